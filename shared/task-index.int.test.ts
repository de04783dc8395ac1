// ListTasks' indexes against a real redis-server: the submit script and the status script keep
// them right in the same call that changes a task, and the walker pages through them newest
// first without showing a task twice or skipping one, ties in one millisecond included.
import { RedisClient as Redis } from './redis-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEYS, type TaskEnvelope, type TaskStateName } from './contract';
import { createLogger } from './logger';
import { connectRedis } from './redis';
import { createTaskStore } from './redis-stores';
import { applyTransitions } from './status';
import { storeNewTask } from './submit-task-script';
import { createTaskIndex, type TaskIndex } from './task-index';
import { createRetentionSweeper } from './task-retention';
import { waitFor } from '../test/helpers/ports';
import type { ListCursor, TaskListQuery } from './task-listing';
import { startRedisServer, type TestServer } from '../test/helpers/servers';

const logger = createLogger('task-index-test', 'silent');
let server: TestServer;
let redis: Redis;
let plain: Redis;
let index: TaskIndex;

beforeAll(async () => {
  server = await startRedisServer();
  redis = await connectRedis({ url: server.url, keyPrefix: 'list-test:', name: 'test', logger });
  plain = new Redis(server.url);
  index = createTaskIndex(redis);
});

afterAll(async () => {
  plain?.disconnect();
  redis?.disconnect();
  await server?.stop();
});

function envelope(taskId: string, createdAtMs: number, overrides: Partial<TaskEnvelope> = {}): TaskEnvelope {
  return { taskId, type: 'echo', payload: '{}', priority: 'medium', metadata: {}, maxAttempts: 5, createdAtMs, notBeforeMs: 0, tenant: 'acme', ...overrides };
}

async function submit(task: TaskEnvelope): Promise<void> {
  await storeNewTask(redis, { envelope: task, idempotencyKey: undefined, idempotencyTtlSeconds: 60, stage: 'gateway' });
}

async function moveTo(taskId: string, ...states: TaskStateName[]): Promise<void> {
  const transitions = states.map((state, i) => ({ state, attempt: state === 'RUNNING' ? 1 : 0, message: '', progress: 0, updatedAtMs: 1_000 + i }));
  await applyTransitions(redis, taskId, 'test', transitions);
}

/** Every task id of a listing, page by page (`pageSize` each), and the number of pages. */
async function listAll(query: Omit<TaskListQuery, 'pageSize' | 'after'>, pageSize: number, between?: () => Promise<void>): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let after: ListCursor | undefined;
  let pages = 0;
  do {
    const page = await index.list({ ...query, pageSize, after });
    pages += 1;
    ids.push(...page.tasks.map((task) => task.fields.task_id!));
    after = page.next;
    await between?.();
  } while (after);
  return { ids, pages };
}

const BASE = { tenant: 'acme', states: [] as TaskStateName[] };

describe('task indexes (real Redis)', () => {
  it('lists newest first, ties in one millisecond by id, across pages that split the ties, without repeats or gaps', async () => {
    const tasks: TaskEnvelope[] = [];
    // 30 tasks over 6 milliseconds: five in each.
    for (let i = 0; i < 30; i += 1) tasks.push(envelope(`tie-${String(i).padStart(2, '0')}`, 10_000 + Math.floor(i / 5), { type: 'tied' }));
    for (const task of [...tasks].reverse()) await submit(task);
    const expected = [...tasks].sort((a, b) => b.createdAtMs - a.createdAtMs || (a.taskId < b.taskId ? 1 : -1)).map((task) => task.taskId);
    for (const pageSize of [1, 3, 7, 30, 100]) {
      const { ids } = await listAll({ ...BASE, type: 'tied' }, pageSize);
      expect(ids, `page size ${pageSize}`).toEqual(expected);
    }
    // The same through the all-tasks index with a type filter, and through the QUEUED index.
    expect((await listAll({ ...BASE, type: 'tied', states: ['QUEUED'] }, 4)).ids).toEqual(expected);
  });

  it('tasks created while paging appear on no later page; every task present at the start is shown once', async () => {
    for (let i = 0; i < 20; i += 1) await submit(envelope(`steady-${i}`, 20_000 + i, { type: 'steady' }));
    let added = 0;
    const { ids } = await listAll({ ...BASE, type: 'steady' }, 3, async () => {
      added += 1;
      await submit(envelope(`late-${added}`, 30_000 + added, { type: 'steady' }));
    });
    expect(ids).toEqual(Array.from({ length: 20 }, (_, i) => `steady-${19 - i}`));
  });

  it('moves a task between state indexes in the status script, in the same call', async () => {
    await submit(envelope('moving', 40_000, { type: 'mover' }));
    const inState = async (state: TaskStateName) => (await listAll({ ...BASE, states: [state], type: 'mover' }, 10)).ids;
    expect(await inState('QUEUED')).toEqual(['moving']);
    await moveTo('moving', 'VALIDATED', 'ENRICHED', 'SCHEDULED');
    expect(await inState('QUEUED')).toEqual([]);
    expect(await inState('SCHEDULED')).toEqual(['moving']);
    // An older status changes nothing, the index included.
    await moveTo('moving', 'VALIDATED');
    expect(await inState('SCHEDULED')).toEqual(['moving']);
    await moveTo('moving', 'RUNNING', 'SUCCEEDED');
    expect(await inState('SUCCEEDED')).toEqual(['moving']);
    expect(await inState('RUNNING')).toEqual([]);
    // Every state index holds the task at most once, and only its own state's holds it.
    const memberships = await Promise.all(
      ['QUEUED', 'VALIDATED', 'ENRICHED', 'SCHEDULED', 'RUNNING', 'SUCCEEDED'].map(async (state) => (await redis.zscore(KEYS.tasksByState('acme', state), 'moving')) !== null),
    );
    expect(memberships).toEqual([false, false, false, false, false, true]);
    // Several states at once: the union, newest first.
    await submit(envelope('waiting', 40_001, { type: 'mover' }));
    expect((await listAll({ ...BASE, states: ['QUEUED', 'SUCCEEDED'], type: 'mover' }, 1)).ids).toEqual(['waiting', 'moving']);
  });

  it('filters by priority and creation time, and keeps each tenant to its own tasks', async () => {
    await submit(envelope('p-high', 50_000, { type: 'prio', priority: 'high' }));
    await submit(envelope('p-low', 50_001, { type: 'prio', priority: 'low' }));
    await submit(envelope('p-other-tenant', 50_002, { type: 'prio', tenant: 'globex' }));
    expect((await listAll({ ...BASE, type: 'prio', priority: 'high' }, 5)).ids).toEqual(['p-high']);
    expect((await listAll({ ...BASE, type: 'prio', createdAfterMs: 50_000 }, 5)).ids).toEqual(['p-low']);
    expect((await listAll({ ...BASE, type: 'prio', createdBeforeMs: 50_001 }, 5)).ids).toEqual(['p-high']);
    expect((await listAll({ tenant: 'globex', states: [] }, 5)).ids).toEqual(['p-other-tenant']);
    expect((await listAll({ tenant: 'initech', states: [] }, 5)).ids).toEqual([]);
  });

  it('a task removed after its publish failed leaves every index', async () => {
    await submit(envelope('unpublished', 60_000, { type: 'gone' }));
    await createTaskStore(redis).remove('unpublished', 'acme', undefined);
    for (const key of [KEYS.tasksByTime('acme'), KEYS.tasksByType('acme', 'gone'), KEYS.tasksByState('acme', 'QUEUED')]) {
      expect(await redis.zscore(key, 'unpublished'), key).toBeNull();
    }
  });

  it('a finished task expires after the retention and leaves every listing; the sweep takes it out of the indexes', async () => {
    await submit(envelope('kept', 70_000, { type: 'retained' }));
    await submit(envelope('short-lived', 70_001, { type: 'retained' }));
    // Retention of 1 s for this one: its record, status and history expire, nothing else does.
    await applyTransitions(redis, 'short-lived', 'test', [{ state: 'SUCCEEDED', attempt: 1, message: '', progress: 100, updatedAtMs: Date.now() }], 1);
    await applyTransitions(redis, 'kept', 'test', [{ state: 'RUNNING', attempt: 1, message: '', progress: 0, updatedAtMs: Date.now() }], 1);
    for (const key of [KEYS.task('short-lived'), KEYS.status('short-lived'), KEYS.history('short-lived')]) {
      expect(await redis.pttl(key), key).toBeGreaterThan(0);
    }
    // A task that is not finished keeps its records for good.
    expect(await redis.pttl(KEYS.task('kept'))).toBe(-1);
    expect((await listAll({ ...BASE, type: 'retained' }, 10)).ids).toEqual(['short-lived', 'kept']);
    await waitFor('the records to expire', async () => (await redis.exists(KEYS.task('short-lived'))) === 0 || undefined, 5_000);
    // Gone from the listing at once, before any sweep.
    expect((await listAll({ ...BASE, type: 'retained' }, 10)).ids).toEqual(['kept']);
    expect(await redis.zscore(KEYS.tasksByType('acme', 'retained'), 'short-lived')).not.toBeNull();
    const expiring = async () => (await redis.zrange(KEYS.tasksExpiring, 0, -1)).filter((member) => member.endsWith('\tshort-lived'));
    expect(await expiring()).toEqual(['acme\tretained\tSUCCEEDED\tshort-lived']);
    const sweeper = createRetentionSweeper(redis, { now: () => Date.now(), batch: 1 });
    expect(await sweeper.sweep()).toBeGreaterThanOrEqual(1);
    expect(await expiring()).toEqual([]);
    for (const key of [KEYS.tasksByTime('acme'), KEYS.tasksByType('acme', 'retained'), KEYS.tasksByState('acme', 'SUCCEEDED')]) {
      expect(await redis.zrangebyscore(key, '-inf', '+inf'), key).not.toContain('short-lived');
    }
    expect(await redis.zscore(KEYS.tasksByType('acme', 'retained'), 'kept')).not.toBeNull();
    // Nothing due: the sweep changes nothing.
    expect(await sweeper.sweep()).toBe(0);
  });

  it('keeps its keys under the client prefix', async () => {
    const keys = await plain.keys('*tasks:*');
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.every((key) => key.startsWith('list-test:tasks:'))).toBe(true);
  });
});
