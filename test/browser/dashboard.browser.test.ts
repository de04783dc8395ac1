// The web dashboard in a real browser: headless Chromium (the system's, Debian's `chromium`;
// TM_CHROMIUM_PATH names another) driven by playwright-core, against the process stack with real
// NATS and Redis, authentication on. It opens the page (which loads nothing from any other
// origin), asks for the key, submits tasks in the form and sees them appear and finish live,
// follows a task's timeline and audit trail, replays dead letters (one and all matching) after a
// confirmation, pauses and resumes a queue, and shows a payload with HTML in it as text.
// Screenshots: test-artifacts/browser/ (their paths are printed). Every wait has a deadline.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskManagerClient, type TaskManagerClient } from '../../client/client';
import { startTestStack, type TestStack } from '../helpers/stack';

const CHROMIUM = process.env.TM_CHROMIUM_PATH || '/usr/bin/chromium';
const ARTIFACTS = resolve('test-artifacts/browser');
const KEY = randomBytes(16).toString('hex');
const WAIT = { timeout: 30_000 };
const XSS_TEXT = '<img src=x onerror=alert(1)><b>bold</b>';

describe('the web dashboard in Chromium', () => {
  let stack: TestStack;
  let browser: Browser;
  let page: Page;
  let client: TaskManagerClient;
  const dialogs: string[] = [];
  const pageErrors: string[] = [];
  const outsideRequests: string[] = [];

  const shot = async (name: string) => {
    const path = join(ARTIFACTS, `${name}.png`);
    await page.screenshot({ path, fullPage: true });
    console.log(`screenshot: ${path}`);
  };

  /** Submits through the page's form; returns the new task's id. */
  const submitInForm = async (type: string, payload: string, options: { priority?: string; maxAttempts?: number } = {}) => {
    await page.goto(`${stack.dashboardUrl}#/tasks`);
    const registered = (await client.listTaskTypes()).some((taskType) => taskType.name === type);
    if (registered) {
      await page.waitForSelector(`#submit-type option[value="${type}"]`, { state: 'attached', ...WAIT });
      await page.selectOption('#submit-type', type);
    } else {
      // A type the deployment does not run (ingest rejects it), as a caller of the API could send.
      await page.waitForSelector('#submit-type option', { state: 'attached', ...WAIT });
      await page.evaluate((name) => {
        const select = document.querySelector<HTMLSelectElement>('#submit-type')!;
        select.append(Object.assign(document.createElement('option'), { value: name, textContent: name }));
        select.value = name;
      }, type);
    }
    await page.fill('#submit-payload', payload);
    await page.selectOption('#submit-priority', options.priority ?? 'medium');
    await page.fill('#submit-max-attempts', String(options.maxAttempts ?? 0));
    const before = await page.evaluate(() => document.querySelector('#submit-result a')?.textContent ?? null);
    await page.click('#submit-form button[type=submit]');
    await page.waitForFunction((previous) => {
      const link = document.querySelector('#submit-result a');
      return link !== null && link.textContent !== previous;
    }, before, WAIT);
    return (await page.locator('#submit-result a').textContent())!;
  };

  const rowState = (taskId: string) => page.locator(`#tasks tr[data-task-id="${taskId}"]`).getAttribute('data-state');

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's "chromium" package (apt-get install chromium) or set TM_CHROMIUM_PATH`);
    mkdirSync(ARTIFACTS, { recursive: true });
    stack = await startTestStack({ env: { TM_API_KEYS: `ops:${KEY}`, TM_OPERATOR_TENANTS: 'ops', TM_QUEUE_STATS_CACHE_MS: '0', LOG_LEVEL: 'info' } });
    client = createTaskManagerClient({ address: stack.gatewayAddress, token: KEY });
    // Chromium's sandbox needs user namespaces that root in a container does not get.
    const args = process.getuid?.() === 0 ? ['--no-sandbox'] : [];
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('dialog', (dialog) => {
      dialogs.push(`${dialog.type()}: ${dialog.message()}`);
      void dialog.dismiss();
    });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    // Nothing but the dashboard itself: no CDN, no fonts, no outside network.
    await page.route('**/*', (route) => {
      if (route.request().url().startsWith(stack.dashboardUrl)) return route.continue();
      outsideRequests.push(route.request().url());
      return route.abort();
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    client?.close();
    await stack?.stop();
  }, 60_000);

  it('serves the page with a Content-Security-Policy, asks for the key, and works once it is typed in', async () => {
    const response = await page.goto(stack.dashboardUrl);
    expect(response?.headers()['content-security-policy']).toContain("default-src 'self'");
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
    await page.waitForSelector('#banner:not([hidden])', WAIT);
    expect(await page.textContent('#banner')).toMatch(/UNAUTHENTICATED.*Enter your API key above/);
    await shot('01-key-needed');

    await page.fill('#api-key', KEY);
    await page.click('#key-form button[type=submit]');
    await page.waitForSelector('#queues tr[data-queue="worker.low"]', WAIT);
    expect(await page.textContent('#key-status')).toBe('key set for this tab');
    expect(await page.evaluate(() => sessionStorage.getItem('taskmanager.apiKey'))).toBe(KEY);
    expect(await page.locator('#queues tbody tr').count()).toBe(9);
    await page.waitForFunction(() => /created in the last 60 s/.test(document.querySelector('#throughput')?.textContent ?? ''), undefined, WAIT);
    await shot('02-queues');
  });

  it('shows tasks submitted in the form appear and then finish, live', async () => {
    const slow = await submitInForm('sleep', '{"ms":4000}');
    const quick = await submitInForm('echo', '{"hello":"dashboard"}', { priority: 'high' });
    await page.waitForSelector(`#tasks tr[data-task-id="${slow}"]`, WAIT);
    // Seen before it ends: the list shows it while it waits or runs...
    expect(['QUEUED', 'VALIDATED', 'ENRICHED', 'SCHEDULED', 'RUNNING']).toContain(await rowState(slow));
    await shot('03-tasks-live');
    // ...and then, without a reload, finished.
    await page.waitForSelector(`#tasks tr[data-task-id="${quick}"][data-state="SUCCEEDED"]`, WAIT);
    await page.waitForSelector(`#tasks tr[data-task-id="${slow}"][data-state="SUCCEEDED"]`, WAIT);
    await page.selectOption('#filter-state', 'SUCCEEDED');
    await page.waitForFunction((id) => document.querySelector(`#tasks tr[data-task-id="${id}"]`) !== null, slow, WAIT);
    expect(await page.locator('#tasks tbody tr:not([data-state="SUCCEEDED"])').count()).toBe(0);
    await shot('04-tasks-finished');
  });

  it("follows a task's status live on its page: timeline, progress bar, result and audit trail", async () => {
    const taskId = await submitInForm('sleep', '{"ms":3000}');
    await page.click('#submit-result a');
    await page.waitForSelector('#task-id', WAIT);
    expect(await page.textContent('#task-id')).toBe(taskId);
    await page.waitForSelector('#timeline li[data-state="RUNNING"]', WAIT);
    await page.waitForFunction(() => document.querySelector<HTMLProgressElement>('#task-progress')!.value > 0, undefined, WAIT);
    await shot('05-task-running');
    await page.waitForSelector('#timeline li[data-state="SUCCEEDED"]', WAIT);
    const states = await page.locator('#timeline li').evaluateAll((items) => items.map((item) => item.getAttribute('data-state')));
    expect(states[0]).toBe('QUEUED');
    expect(states).toEqual(expect.arrayContaining(['SCHEDULED', 'RUNNING']));
    expect(states.at(-1)).toBe('SUCCEEDED');
    expect(await page.evaluate(() => document.querySelector<HTMLProgressElement>('#task-progress')!.value)).toBe(100);
    await page.waitForSelector('#task-output', WAIT);
    expect(JSON.parse((await page.textContent('#task-output'))!)).toEqual({ slept: 3000 });
    await page.waitForFunction(() => document.querySelectorAll('#audit tbody tr').length >= 3, undefined, WAIT);
    const actions = await page.locator('#audit tbody td.action').allTextContents();
    expect(actions.length).toBeGreaterThanOrEqual(3);
    await shot('06-task-finished');
  });

  it('replays a dead letter after a confirmation, and all matching ones at once', async () => {
    const failed = await submitInForm('fail', '{"message":"boom"}', { maxAttempts: 1 });
    await page.waitForSelector(`#tasks tr[data-task-id="${failed}"][data-state="FAILED"]`, WAIT);
    await page.goto(`${stack.dashboardUrl}#/dead-letters`);
    const row = `#dead-letters tr[data-task-id="${failed}"]`;
    await page.waitForSelector(row, WAIT);

    // Cancelled in the dialog: nothing replayed.
    await page.click(`${row} button.replay`);
    await page.waitForSelector('#confirm-dialog[open]', WAIT);
    expect(await page.textContent('#confirm-text')).toContain(failed);
    await shot('07-replay-confirm');
    await page.click('#confirm-no');
    await page.waitForSelector('#confirm-dialog:not([open])', { state: 'attached', ...WAIT });
    expect(await page.textContent('#replay-result')).toBe('');

    await page.click(`${row} button.replay`);
    await page.click('#confirm-yes');
    await page.waitForSelector('#replay-result a.task-link', WAIT);
    expect(await page.textContent('#replay-result')).toMatch(/^Replayed 1 dead letter\(s\) as new tasks: /);
    const replayTask = (await page.textContent('#replay-result a.task-link'))!;
    expect(replayTask).not.toBe(failed);
    await page.waitForSelector(`${row} td.replayed-as a`, WAIT);
    await page.click('#replay-result a.task-link');
    await page.waitForSelector('#task-id', WAIT);
    expect(await page.textContent('#task-id')).toBe(replayTask);
    expect(await page.textContent('#task-type')).toBe('fail');
    await page.waitForSelector(`a[href="#/tasks/${failed}"]`, WAIT); // "Replay of" the failed task
    await shot('08-replayed-task');

    // Bulk: every dead letter of an unknown type (ingest rejects both).
    const type = `no-such-type-${randomBytes(3).toString('hex')}`;
    const rejected = [await submitInForm(type, '{"n":1}'), await submitInForm(type, '{"n":2}')];
    await page.goto(`${stack.dashboardUrl}#/dead-letters`);
    await page.fill('#dl-type', type);
    await page.click('#dl-filters button[type=submit]');
    // The list becomes exactly the filtered one (the poll's unfiltered answer may be drawn first;
    // one that arrives after the filtered answer is dropped: latestOnly, dashboard/web/poll.ts).
    await page.waitForFunction(
      (ids) => {
        const rows = [...document.querySelectorAll('#dead-letters tbody tr')].map((tr) => tr.getAttribute('data-task-id'));
        return rows.length === ids.length && ids.every((id) => rows.includes(id));
      },
      rejected,
      WAIT,
    );
    await page.click('#replay-all');
    expect(await page.textContent('#confirm-text')).toContain(`type ${type}`);
    await page.click('#confirm-yes');
    await page.waitForFunction(() => document.querySelectorAll('#replay-result a.task-link').length === 2, undefined, WAIT);
    expect(await page.textContent('#replay-result')).toMatch(/^Replayed 2 dead letter\(s\) as new tasks: /);
    await shot('09-replayed-all');
  });

  it('pauses a queue, which the queues view shows, and resumes it', async () => {
    await page.goto(`${stack.dashboardUrl}#/queues`);
    const row = '#queues tr[data-queue="worker.low"]';
    await page.click(`${row} button.pause`);
    await page.waitForFunction((selector) => document.querySelector(`${selector} td.paused-state`)?.textContent === 'paused', row, WAIT);
    expect((await client.getQueueStats()).queues.find((queue) => queue.queue === 'worker.low')?.paused).toBe(true);
    // A low-priority task waits in the paused queue...
    const { taskId } = await client.submit({ type: 'echo', payload: { waiting: true }, priority: 'low' });
    await page.waitForFunction((selector) => Number(document.querySelector(`${selector} td.pending`)?.textContent) >= 1, row, WAIT);
    await shot('10-queue-paused');
    // ...and runs once the queue is resumed.
    await page.click(`${row} button.resume`);
    await page.waitForFunction((selector) => document.querySelector(`${selector} td.paused-state`)?.textContent === 'running', row, WAIT);
    expect((await client.waitForResult(taskId)).state).toBe('SUCCEEDED');
    await page.waitForFunction((selector) => document.querySelector(`${selector} td.pending`)?.textContent === '0', row, WAIT);
    await shot('11-queue-resumed');
  });

  it('shows a payload with HTML in it as text, in the list and on the task page', async () => {
    const payload = JSON.stringify({ x: XSS_TEXT });
    const taskId = await submitInForm('echo', payload);
    const row = `#tasks tr[data-task-id="${taskId}"]`;
    await page.waitForSelector(row, WAIT);
    expect(await page.textContent(`${row} td.payload`)).toContain(XSS_TEXT);
    expect(await page.locator('#tasks b, #tasks img').count()).toBe(0);
    await page.goto(`${stack.dashboardUrl}#/tasks/${taskId}`);
    await page.waitForSelector('#task-output', WAIT);
    expect(JSON.parse((await page.textContent('#task-payload'))!)).toEqual({ x: XSS_TEXT });
    expect(await page.textContent('#task-output')).toContain(XSS_TEXT);
    expect(await page.locator('main b, main img').count()).toBe(0);
    await shot('12-html-payload-as-text');
    expect(dialogs).toEqual([]);
  });

  it('loaded nothing from outside, raised no script error, and the key never reached a log', () => {
    expect(outsideRequests).toEqual([]);
    expect(pageErrors).toEqual([]);
    expect(stack.logs.some((line) => line.includes(KEY))).toBe(false);
    expect(stack.logs.some((line) => line.startsWith('[dashboard]') && line.includes('dashboard listening'))).toBe(true);
  });
});
