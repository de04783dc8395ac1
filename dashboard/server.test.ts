// The dashboard's HTTP face on a free port, against a fake gateway (the GatewayPort the client
// library provides): the page with its security headers, the JSON API's answers and refusals, the
// key passed on per caller and never logged, the status stream as Server-Sent Events, and — with
// the real client library against the fake gRPC service — the key arriving as gRPC metadata.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TaskManagerClientError } from '../client/errors';
import { startFakeTaskManager, type FakeTaskManager } from '../client/testing/fake-task-manager';
import type { StatusUpdate, Task, TaskPage } from '../client/types';
import type { DashboardConfig } from './config';
import type { GatewayPort } from './gateway-clients';
import { createLogger } from '../shared/logger';
import { startDashboard, type RunningDashboard } from './server';

const CONFIG: DashboardConfig = {
  host: '127.0.0.1',
  port: 0,
  gatewayAddress: '127.0.0.1:1',
  gatewayTls: { enabled: false, caFile: undefined },
  logLevel: 'debug',
  shutdownGraceMs: 1_000,
};
const KEY = 'k-0123456789abcdef';

const update = (seq: number, state: StatusUpdate['state']): StatusUpdate => ({ taskId: 't1', state, stage: 'worker', attempt: 1, message: '', progress: 0, updatedAtMs: 1_000 + seq, seq });
const task = (taskId: string, state: StatusUpdate['state']): Task => ({
  taskId, type: 'echo', payload: {}, payloadText: '{}', priority: 'medium', metadata: {}, createdAtMs: 1, attempts: 1, status: update(1, state), history: [],
});

type Calls = { keys: (string | undefined)[]; methods: string[]; args: unknown[] };

/** A gateway whose answers a test can replace; records which key each client was made for. */
function fakeGateway(calls: Calls, overrides: Partial<GatewayPort> = {}): (key: string | undefined) => GatewayPort {
  const record = (method: string, value: unknown) => (...args: unknown[]) => {
    calls.methods.push(method);
    calls.args.push(args);
    return Promise.resolve(value);
  };
  return (key) => {
    calls.keys.push(key);
    return {
      submit: record('submit', { taskId: 'new-1', state: 'QUEUED', duplicate: false }),
      getTask: record('getTask', task('t1', 'RUNNING')),
      getResult: record('getResult', {}),
      cancel: record('cancel', { taskId: 't1', state: 'CANCELLED' }),
      listTaskTypes: record('listTaskTypes', [{ name: 'echo' }]),
      listTasks: record('listTasks', { tasks: [], nextPageToken: undefined }),
      listDeadLetters: record('listDeadLetters', { deadLetters: [], nextPageToken: undefined, dropped: 0 }),
      replayDeadLetters: record('replayDeadLetters', { replayed: 1, taskIds: ['r1'], alreadyReplayed: 0, wouldReplay: [], skipped: [], nextPageToken: undefined }),
      listAuditEvents: record('listAuditEvents', { events: [], nextPageToken: undefined }),
      getQueueStats: record('getQueueStats', { queues: [], delayed: 0, deadLetters: 0, deadLettersDropped: 0, deadLetterCap: 10, readAtMs: 1 }),
      pauseQueue: record('pauseQueue', { queue: 'worker.low', paused: true }),
      resumeQueue: record('resumeQueue', { queue: 'worker.low', paused: false }),
      watch: async function* () {
        yield update(1, 'RUNNING');
      },
      close: () => undefined,
      ...overrides,
    } as GatewayPort;
  };
}

describe('the dashboard server', () => {
  const assetsDir = mkdtempSync(join(tmpdir(), 'tm-dashboard-assets-'));
  let logs = '';
  const logger = createLogger('dashboard', 'debug', { write: (line) => (logs += line) });
  let dashboard: RunningDashboard | undefined;
  let calls: Calls;

  const start = async (overrides: Partial<GatewayPort> = {}) => {
    calls = { keys: [], methods: [], args: [] };
    dashboard = await startDashboard(CONFIG, { logger, assetsDir, connect: fakeGateway(calls, overrides), now: () => 100_000 });
    return `http://127.0.0.1:${dashboard.port}`;
  };
  const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

  beforeAll(() => {
    writeFileSync(join(assetsDir, 'index.html'), '<!doctype html><title>t</title><script src="/app.js" defer></script>');
    writeFileSync(join(assetsDir, 'app.js'), 'void 0;');
    writeFileSync(join(assetsDir, 'app.css'), 'body{}');
  });
  afterEach(async () => {
    await dashboard?.stop();
    dashboard = undefined;
  });
  afterAll(() => rmSync(assetsDir, { recursive: true, force: true }));

  it('serves the page and its assets with a Content-Security-Policy that allows only its own origin', async () => {
    const base = await start();
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toBe(
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect((await fetch(`${base}/app.js`)).headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect((await fetch(`${base}/app.css`)).status).toBe(200);
    const missing = await fetch(`${base}/other.js`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect((await fetch(`${base}/health/readiness`)).status).toBe(200);
  });

  it('refuses to start without its assets, naming the file', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'tm-dashboard-empty-'));
    try {
      await expect(startDashboard(CONFIG, { logger, assetsDir: empty, connect: fakeGateway({ keys: [], methods: [], args: [] }) })).rejects.toThrow(
        /dashboard asset .*index\.html cannot be read \(run `npm run build`\)/,
      );
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it("calls the gateway with each caller's key, and without one when none is sent", async () => {
    const base = await start();
    expect((await fetch(`${base}/api/types`, { headers: { authorization: `Bearer ${KEY}` } })).status).toBe(200);
    expect((await fetch(`${base}/api/types`, { headers: { authorization: `Bearer ${KEY}` } })).status).toBe(200);
    expect((await fetch(`${base}/api/types`)).status).toBe(200);
    expect(calls.keys).toEqual([KEY, undefined]); // one client per key, reused
    const malformed = await fetch(`${base}/api/types`, { headers: { authorization: `Basic ${KEY}` } });
    expect(malformed.status).toBe(401);
    expect(await malformed.json()).toEqual({ error: 'UNAUTHENTICATED', message: 'authorization: expected "Bearer <key>"' });
    expect(logs).not.toContain(KEY);
  });

  it("passes the gateway's refusals on: UNAUTHENTICATED as 401, PERMISSION_DENIED as 403, UNAVAILABLE as 503", async () => {
    const base = await start({
      getQueueStats: () => Promise.reject(new TaskManagerClientError(status.UNAUTHENTICATED, 'missing API key')),
      pauseQueue: () => Promise.reject(new TaskManagerClientError(status.PERMISSION_DENIED, 'tenant acme may not pause queues')),
      listTasks: () => Promise.reject(new TaskManagerClientError(status.UNAVAILABLE, 'connect ECONNREFUSED')),
    });
    const stats = await fetch(`${base}/api/queues`);
    expect(stats.status).toBe(401);
    expect(((await stats.json()) as { message: string }).message).toMatch(/^the gateway wants an API key: missing API key/);
    const pause = await post(`${base}/api/queues/worker.low/pause`, {});
    expect([pause.status, await pause.json()]).toEqual([403, { error: 'PERMISSION_DENIED', message: 'tenant acme may not pause queues' }]);
    expect((await fetch(`${base}/api/tasks`)).status).toBe(503);
    expect(logs).toMatch(/"status":503.*gateway call failed/);
  });

  it('answers bad input with 400 naming the field, before calling the gateway', async () => {
    const base = await start();
    const cases: [Promise<Response>, number, RegExp][] = [
      [fetch(`${base}/api/tasks?state=DONE`), 400, /^state: unknown state "DONE"/],
      [fetch(`${base}/api/tasks?pageSize=5000`), 400, /^pageSize: /],
      [post(`${base}/api/tasks`, { payload: '{}' }), 400, /^type: required/],
      [post(`${base}/api/tasks`, { type: 'echo', payload: '{oops' }), 400, /^payload: not JSON/],
      [post(`${base}/api/tasks`, '{"type":'), 400, /^body: not JSON/],
      [fetch(`${base}/api/tasks`, { method: 'POST', body: '{"type":"echo"}' }), 415, /^content-type: expected application\/json$/],
      [post(`${base}/api/dead-letters/replay`, {}), 400, /^ids: expected a non-empty list/],
      [fetch(`${base}/api/tasks/t1/events?afterSeq=x`), 400, /^afterSeq: /],
    ];
    for (const [answer, code, message] of cases) {
      const response = await answer;
      expect(response.status).toBe(code);
      expect(((await response.json()) as { message: string }).message).toMatch(message);
    }
    expect(calls.methods).toEqual([]);
  });

  it('refuses requests from another web page (cross-site), which could otherwise drive a keyless dashboard', async () => {
    const base = await start();
    const foreign = await post(`${base}/api/queues/worker.low/pause`, {}, { origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    expect((await post(`${base}/api/queues/worker.low/pause`, {}, { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect(calls.methods).toEqual([]);
    expect((await post(`${base}/api/queues/worker.low/pause`, {}, { origin: base, 'sec-fetch-site': 'same-origin' })).status).toBe(200);
    expect(calls.methods).toEqual(['pauseQueue']);
    expect(calls.args).toEqual([['worker.low']]);
  });

  it('submits with the fields checked, and replays every matching dead letter page by page', async () => {
    let page = 0;
    const base = await start({
      replayDeadLetters: async (query) => {
        calls.args.push(query);
        page += 1;
        return { replayed: 2, taskIds: [`r${page}a`, `r${page}b`], alreadyReplayed: 0, wouldReplay: [], skipped: [], nextPageToken: page < 2 ? `p${page}` : undefined };
      },
    });
    const submitted = await post(`${base}/api/tasks`, { type: 'echo', payload: '{"a":1}', priority: 'high', maxAttempts: 2 });
    expect(submitted.status).toBe(201);
    expect(calls.args[0]).toEqual([{ type: 'echo', payload: '{"a":1}', priority: 'high', maxAttempts: 2 }]);
    const replayed = await post(`${base}/api/dead-letters/replay`, { all: true, type: 'fail' });
    expect(await replayed.json()).toMatchObject({ replayed: 4, taskIds: ['r1a', 'r1b', 'r2a', 'r2b'] });
    expect(calls.args.slice(1)).toEqual([
      { type: 'fail', dryRun: false, pageSize: 1000 },
      { type: 'fail', dryRun: false, pageSize: 1000, pageToken: 'p1' },
    ]);
  });

  it("counts the caller's tasks of the last minute for the throughput figure", async () => {
    const base = await start({
      listTasks: async (query) => {
        calls.args.push(query);
        const page: TaskPage = { tasks: [task('a', 'SUCCEEDED'), task('b', 'FAILED'), task('c', 'RUNNING')], nextPageToken: undefined };
        return page;
      },
    });
    expect(await (await fetch(`${base}/api/throughput`)).json()).toEqual({ windowMs: 60_000, submitted: 3, succeeded: 1, failed: 1, truncated: false, readAtMs: 100_000 });
    expect(calls.args).toEqual([{ createdAfterMs: 40_000, pageSize: 1000 }]);
  });

  it('streams a task\'s status as Server-Sent Events, then "end"; a gateway error becomes an "error" event', async () => {
    const base = await start({
      watch: async function* (taskId, options) {
        calls.args.push({ taskId, afterSeq: options?.afterSeq });
        if (taskId === 'missing') throw new TaskManagerClientError(status.NOT_FOUND, 'task missing not found');
        yield update(3, 'RUNNING');
        yield update(4, 'SUCCEEDED');
      },
    });
    const stream = await fetch(`${base}/api/tasks/t1/events?afterSeq=2`);
    expect(stream.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const text = await stream.text();
    expect(text).toBe(
      `id: 3\nevent: status\ndata: ${JSON.stringify(update(3, 'RUNNING'))}\n\n` +
        `id: 4\nevent: status\ndata: ${JSON.stringify(update(4, 'SUCCEEDED'))}\n\n` +
        'event: end\ndata: {"state":"SUCCEEDED"}\n\n',
    );
    expect(calls.args).toEqual([{ taskId: 't1', afterSeq: 2 }]);
    expect(await (await fetch(`${base}/api/tasks/missing/events`)).text()).toBe(
      'event: error\ndata: {"status":404,"error":"NOT_FOUND","message":"task missing not found"}\n\n',
    );
  });

  it('ends open status streams when it stops', async () => {
    let release: () => void = () => undefined;
    const base = await start({
      watch: async function* (_taskId, options) {
        yield update(1, 'RUNNING');
        await new Promise<void>((resolve) => {
          release = resolve;
          options?.signal?.addEventListener('abort', () => resolve());
        });
      },
    });
    const stream = await fetch(`${base}/api/tasks/t1/events`);
    const reader = stream.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('event: status');
    await dashboard!.stop();
    dashboard = undefined;
    const rest = await reader.read();
    expect(rest.done).toBe(true);
    release();
  });
});

describe('the dashboard with the real client library', () => {
  let fake: FakeTaskManager;
  let dashboard: RunningDashboard;
  const assetsDir = mkdtempSync(join(tmpdir(), 'tm-dashboard-assets-'));

  beforeAll(async () => {
    for (const file of ['index.html', 'app.js', 'app.css']) writeFileSync(join(assetsDir, file), '');
    fake = await startFakeTaskManager();
    dashboard = await startDashboard({ ...CONFIG, gatewayAddress: fake.address }, { logger: createLogger('dashboard', 'silent'), assetsDir });
  });
  afterAll(async () => {
    await dashboard?.stop();
    await fake?.stop();
    rmSync(assetsDir, { recursive: true, force: true });
  });

  it('sends the browser\'s key to the gateway as "authorization: Bearer <key>" gRPC metadata', async () => {
    const response = await fetch(`http://127.0.0.1:${dashboard.port}/api/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ type: 'echo', payload: '{"hi":1}' }),
    });
    expect(response.status).toBe(201);
    const { taskId } = (await response.json()) as { taskId: string };
    expect(fake.tasks.get(taskId)?.payload).toBe('{"hi":1}');
    const call = fake.calls.find((candidate) => candidate.method === 'SubmitTask')!;
    expect(call.metadata.authorization).toBe(`Bearer ${KEY}`);
  });
});
