// ListTasks end to end on the process stack with real NATS and Redis and authentication on:
// 500 mixed tasks, listed by state and by type across pages while more tasks are being
// submitted, newest first, each tenant seeing only its own; and `tm list`.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskManagerClient, type ListTasksQuery, type TaskManagerClient } from '../../client/client';
import { KEYS } from '../../shared/contract';
import { startTestStack, type TestStack } from '../helpers/stack';
import { runTm } from '../helpers/tm';
import { waitFor } from '../helpers/ports';
import { waitForTerminal } from '../faults/workload';

const ACME_KEY = randomBytes(16).toString('hex');
const GLOBEX_KEY = randomBytes(16).toString('hex');

type Submitted = { taskId: string; kind: 'echo' | 'fail' | 'unknown'; order: number };

describe('ListTasks on the running stack', () => {
  let stack: TestStack;
  let acme: TaskManagerClient;
  let globex: TaskManagerClient;
  const tasks: Submitted[] = [];

  beforeAll(async () => {
    stack = await startTestStack({ env: { TM_API_KEYS: `acme:${ACME_KEY},globex:${GLOBEX_KEY}` } });
    acme = createTaskManagerClient({ address: stack.gatewayAddress, token: ACME_KEY });
    globex = createTaskManagerClient({ address: stack.gatewayAddress, token: GLOBEX_KEY });
    // One at a time in submission order, so creation times follow it (ties are ordered by id).
    for (let i = 0; i < 500; i += 1) {
      const kind = (['echo', 'fail', 'unknown'] as const)[i % 3]!;
      const request =
        kind === 'echo'
          ? { type: 'echo', payload: JSON.stringify({ i }) }
          : kind === 'fail'
            ? { type: 'fail', payload: '{}', maxAttempts: 1 }
            : { type: 'no-such-type', payload: '{}' };
      tasks.push({ taskId: (await acme.submit(request)).taskId, kind, order: i });
    }
    await waitForTerminal(stack.redis, tasks.map((task) => task.taskId), 120_000);
  }, 240_000);

  afterAll(async () => {
    acme?.close();
    globex?.close();
    await stack?.stop();
  }, 60_000);

  /** Every task id of a listing, page by page. */
  async function listAll(client: TaskManagerClient, query: ListTasksQuery, pageSize: number): Promise<string[]> {
    const ids: string[] = [];
    let pageToken: string | undefined;
    do {
      const page = await client.listTasks({ ...query, pageSize, pageToken });
      expect(page.tasks.length).toBeLessThanOrEqual(pageSize);
      ids.push(...page.tasks.map((task) => task.taskId));
      pageToken = page.nextPageToken;
    } while (pageToken);
    return ids;
  }

  /** Newest first: by creation time, ties by id descending (the order ListTasks promises). */
  async function expectedOrder(kind: Submitted['kind']): Promise<string[]> {
    const ofKind = tasks.filter((task) => task.kind === kind);
    const created = await Promise.all(ofKind.map(async (task) => ({ id: task.taskId, at: Number(await stack.redis.hget(`task:${task.taskId}`, 'created_at_ms')) })));
    return created.sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : -1)).map((entry) => entry.id);
  }

  it('lists by state and by type across pages, newest first, exactly the right ids, while more tasks are submitted', async () => {
    const late: string[] = [];
    let submitting = true;
    const more = (async () => {
      while (submitting && late.length < 300) late.push((await acme.submit({ type: 'echo', payload: '{"late":true}' })).taskId);
    })();
    try {
      const lateSet = () => new Set(late);
      const cases: [ListTasksQuery, Submitted['kind'], number][] = [
        [{ states: ['SUCCEEDED'] }, 'echo', 37],
        [{ states: ['FAILED'] }, 'fail', 50],
        [{ states: ['REJECTED'] }, 'unknown', 13],
        [{ type: 'fail' }, 'fail', 29],
        [{ type: 'no-such-type', states: ['REJECTED', 'FAILED'] }, 'unknown', 41],
        [{ type: 'echo', states: ['SUCCEEDED'] }, 'echo', 100],
      ];
      for (const [query, kind, pageSize] of cases) {
        const ids = await listAll(acme, query, pageSize);
        const lateIds = lateSet();
        const original = ids.filter((id) => !lateIds.has(id));
        expect(original, JSON.stringify(query)).toEqual(await expectedOrder(kind));
        // A task submitted meanwhile is newer than every original: it may only come first.
        const firstOriginal = ids.findIndex((id) => !lateIds.has(id));
        expect(ids.slice(firstOriginal).every((id) => !lateIds.has(id)), JSON.stringify(query)).toBe(true);
        expect(new Set(ids).size).toBe(ids.length);
      }
    } finally {
      submitting = false;
      await more;
    }
    expect(late.length).toBeGreaterThan(0);
  }, 120_000);

  it('each tenant lists only its own tasks, and a token does not carry over to another tenant', async () => {
    expect((await globex.listTasks({ pageSize: 1000 })).tasks).toEqual([]);
    const { taskId } = await globex.submit({ type: 'echo', payload: '{"tenant":"globex"}' });
    await globex.waitForResult(taskId);
    expect((await listAll(globex, {}, 10))).toEqual([taskId]);
    expect((await listAll(acme, { states: ['SUCCEEDED'] }, 1000))).not.toContain(taskId);
    const acmePage = await acme.listTasks({ pageSize: 1 });
    await expect(globex.listTasks({ pageSize: 1, pageToken: acmePage.nextPageToken })).rejects.toThrow(/INVALID_ARGUMENT.*page_token/);
  });

  it('every FAILED or REJECTED task has exactly one dead letter in ListDeadLetters; other tenants see none', async () => {
    const failing = new Set(tasks.filter((task) => task.kind !== 'echo').map((task) => task.taskId));
    const letters = async () => {
      const all: { id: string; taskId: string; type: string; stage: string }[] = [];
      let pageToken: string | undefined;
      do {
        const page = await acme.listDeadLetters({ pageSize: 97, pageToken });
        all.push(...page.deadLetters);
        pageToken = page.nextPageToken;
      } while (pageToken);
      return all;
    };
    const found = await waitFor('a dead letter per failed task', async () => {
      const all = await letters();
      return all.filter((letter) => failing.has(letter.taskId)).length >= failing.size ? all : undefined;
    }, 30_000);
    const perTask = new Map<string, number>();
    for (const letter of found) perTask.set(letter.taskId, (perTask.get(letter.taskId) ?? 0) + 1);
    expect([...failing].filter((id) => perTask.get(id) !== 1)).toEqual([]);
    expect(tasks.filter((task) => task.kind === 'echo' && perTask.has(task.taskId))).toEqual([]);
    // The type and the stage that gave up, as ListDeadLetters shows them.
    const byId = new Map(found.map((letter) => [letter.taskId, letter]));
    const failed = tasks.find((task) => task.kind === 'fail')!;
    const rejected = tasks.find((task) => task.kind === 'unknown')!;
    expect(byId.get(failed.taskId)).toMatchObject({ type: 'fail', stage: 'worker' });
    expect(byId.get(rejected.taskId)).toMatchObject({ type: 'no-such-type', stage: 'ingest' });
    expect((await acme.listDeadLetters({ taskId: failed.taskId })).deadLetters.map((letter) => letter.taskId)).toEqual([failed.taskId]);
    expect((await globex.listDeadLetters({ pageSize: 1000 })).deadLetters).toEqual([]);
    const tm = await runTm(['dlq', 'list', '--type', 'fail', '--limit', '3', '--json'], { TM_ADDRESS: stack.gatewayAddress, TM_TOKEN: ACME_KEY });
    expect(tm.code, tm.stderr).toBe(0);
    const listed = tm.stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string; stage: string });
    expect(listed).toHaveLength(3);
    expect(listed.every((letter) => letter.type === 'fail' && letter.stage === 'worker')).toBe(true);
  });

  it('tm list shows the newest tasks of a state, page by page up to --limit', async () => {
    const result = await runTm(['list', '--state', 'failed', '--limit', '7', '--json'], { TM_ADDRESS: stack.gatewayAddress, TM_TOKEN: ACME_KEY });
    expect(result.code, result.stderr).toBe(0);
    const listed = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { taskId: string; status: { state: string }; type: string });
    expect(listed.map((task) => task.taskId)).toEqual((await expectedOrder('fail')).slice(0, 7));
    expect(listed.every((task) => task.status.state === 'FAILED' && task.type === 'fail')).toBe(true);
    const text = await runTm(['list', '--type', 'echo', '--limit', '2'], { TM_ADDRESS: stack.gatewayAddress, TM_TOKEN: ACME_KEY });
    expect(text.stdout.trim().split('\n')).toHaveLength(2);
    expect(text.stdout).toMatch(/^\S+ {2}SUCCEEDED {2}echo {2}medium {2}\d{4}-\d\d-\d\dT\S+Z {2}attempts=1$/m);
  });
});

describe('retention on the running stack', () => {
  let stack: TestStack;
  let client: TaskManagerClient;

  beforeAll(async () => {
    stack = await startTestStack({ env: { TM_RETENTION_SECONDS: '2', TM_RETENTION_SWEEP_INTERVAL_MS: '200' } });
    client = createTaskManagerClient({ address: stack.gatewayAddress });
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await stack?.stop();
  }, 60_000);

  it('finished tasks, their history and results expire after TM_RETENTION_SECONDS and leave every listing and index', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 30; i += 1) {
      const request = [{ type: 'echo', payload: '{}' }, { type: 'fail', payload: '{}', maxAttempts: 1 }, { type: 'no-such-type', payload: '{}' }][i % 3]!;
      ids.push((await client.submit(request)).taskId);
    }
    await waitForTerminal(stack.redis, ids, 60_000);
    const listed = async (query: ListTasksQuery) => (await client.listTasks({ ...query, pageSize: 1000 })).tasks.map((task) => task.taskId);
    const prefix = stack.redis.options.keyPrefix ?? '';
    const indexSizes = async () => {
      const keys = await stack.redis.keys(`${prefix}tasks*`);
      return Promise.all(keys.map((key) => stack.redis.zcard(key.slice(prefix.length))));
    };
    expect((await indexSizes()).some((size) => size > 0)).toBe(true);
    // Listed while kept (some may already be gone: the first finished about as long ago as the retention).
    const keptNow = new Set(await listed({}));
    const trailTtls = await Promise.all(ids.map((id) => stack.redis.pttl(KEYS.taskAudit(id))));
    // A trail that exists expires (-1 would be a trail kept for ever; -2 one already gone or not yet written).
    expect(trailTtls.filter((ttl) => ttl === -1)).toEqual([]);
    expect(trailTtls.some((ttl) => ttl > 0)).toBe(true);
    expect([...keptNow].every((id) => ids.includes(id))).toBe(true);
    await waitFor('every task to leave every listing', async () => {
      const lists = await Promise.all([listed({}), listed({ states: ['SUCCEEDED'] }), listed({ states: ['FAILED', 'REJECTED'] }), listed({ type: 'echo' }), listed({ type: 'fail' })]);
      return lists.every((list) => list.length === 0) || undefined;
    }, 20_000);
    await expect(client.getTask(ids[0]!)).rejects.toThrow(/NOT_FOUND/);
    await expect(client.getResult(ids[0]!)).rejects.toThrow(/NOT_FOUND/);
    await expect(client.listAuditEvents(ids[0]!)).rejects.toThrow(/NOT_FOUND/);
    // Each task's audit trail went with it.
    await waitFor('every audit trail to expire', async () => {
      const left = await Promise.all(ids.map((id) => stack.redis.exists(KEYS.taskAudit(id))));
      return left.every((exists) => exists === 0) || undefined;
    }, 10_000);
    // The sweep has taken them out of the indexes too (nothing grows without bound).
    await waitFor('the indexes to be empty', async () => (await indexSizes()).every((size) => size === 0) || undefined, 10_000);
  }, 120_000);
});
