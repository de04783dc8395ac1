// Dead letters per tenant against a real redis-server: stored once per id under the task's
// tenant and type, capped per tenant with the drop counted, listed newest first in pages.
import { RedisClient as Redis } from './redis-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEYS, type DeadLetterData } from './contract';
import { createDeadLetterIndex, createDeadLetterStore, type DeadLetterQuery } from './dead-letters';
import { createLogger } from './logger';
import { connectRedis } from './redis';
import { storeNewTask } from './submit-task-script';
import type { ListCursor } from './task-listing';
import { startRedisServer, type TestServer } from '../test/helpers/servers';

const logger = createLogger('dead-letters-test', 'silent');
let server: TestServer;
let redis: Redis;

beforeAll(async () => {
  server = await startRedisServer();
  redis = await connectRedis({ url: server.url, keyPrefix: 'dlq-test:', name: 'test', logger });
});

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

async function submit(taskId: string, tenant: string, type: string): Promise<void> {
  const envelope = { taskId, type, payload: '{}', priority: 'medium' as const, metadata: {}, maxAttempts: 5, createdAtMs: 1, notBeforeMs: 0, tenant };
  await storeNewTask(redis, { envelope, idempotencyKey: undefined, idempotencyTtlSeconds: 60, stage: 'gateway' });
}

function letter(taskId: string, atMs: number, stage = 'worker'): DeadLetterData {
  return { taskId, stage, reason: 'failed after 5 attempts', attempts: 5, lastError: 'boom', event: { id: `${taskId}:scheduled` }, atMs };
}

async function listAll(query: Omit<DeadLetterQuery, 'pageSize' | 'after'>, pageSize: number): Promise<string[]> {
  const index = createDeadLetterIndex(redis);
  const ids: string[] = [];
  let after: ListCursor | undefined;
  do {
    const page = await index.list({ ...query, pageSize, after });
    ids.push(...page.deadLetters.map((record) => record.id));
    after = page.next;
  } while (after);
  return ids;
}

describe('dead letters per tenant (real Redis)', () => {
  it('stores each id once, under its task’s tenant with the task’s type, and in the global list', async () => {
    const store = createDeadLetterStore(redis, { markerTtlSeconds: 60, cap: 100, listCap: 1_000 });
    await submit('t-acme', 'acme', 'resize');
    expect(await store.store('dl-1', letter('t-acme', 1_000))).toBe(true);
    expect(await store.store('dl-1', letter('t-acme', 1_000))).toBe(false);
    const page = await createDeadLetterIndex(redis).list({ tenant: 'acme', pageSize: 10 });
    expect(page.deadLetters).toEqual([
      {
        id: 'dl-1', taskId: 't-acme', tenant: 'acme', type: 'resize', stage: 'worker', reason: 'failed after 5 attempts',
        attempts: 5, lastError: 'boom', atMs: 1_000, replayedAs: '', event: '{"id":"t-acme:scheduled"}',
      },
    ]);
    expect(page.dropped).toBe(0);
    expect((await redis.lrange(KEYS.deadLetter, 0, -1)).map((entry) => (JSON.parse(entry) as { eventId: string }).eventId)).toEqual(['dl-1']);
    // A dead letter that names no known task (bytes that were no event) goes to the default tenant.
    expect(await store.store('dl-orphan', letter('', 1_001, 'ingest'))).toBe(true);
    expect(await listAll({ tenant: 'default' }, 5)).toEqual(['dl-orphan']);
    expect(await listAll({ tenant: 'globex' }, 5)).toEqual([]);
  });

  it('lists newest first in pages, filtered by type, stage, task and time', async () => {
    const store = createDeadLetterStore(redis, { markerTtlSeconds: 60, cap: 100, listCap: 1_000 });
    await submit('t-a', 'initech', 'hash');
    await submit('t-b', 'initech', 'echo');
    for (let i = 0; i < 9; i += 1) await store.store(`dl-i${i}`, letter(i % 3 === 0 ? 't-b' : 't-a', 2_000 + Math.floor(i / 2), i % 2 === 0 ? 'worker' : 'ingest'));
    const expected = Array.from({ length: 9 }, (_, i) => ({ id: `dl-i${i}`, at: 2_000 + Math.floor(i / 2) }))
      .sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : -1))
      .map((entry) => entry.id);
    for (const size of [1, 2, 4, 9]) expect(await listAll({ tenant: 'initech' }, size), `page size ${size}`).toEqual(expected);
    expect(await listAll({ tenant: 'initech', type: 'echo' }, 2)).toEqual(['dl-i6', 'dl-i3', 'dl-i0']);
    expect(await listAll({ tenant: 'initech', stage: 'ingest', taskId: 't-a' }, 2)).toEqual(['dl-i7', 'dl-i5', 'dl-i1']);
    expect(await listAll({ tenant: 'initech', afterMs: 2_002, beforeMs: 2_004 }, 2)).toEqual(['dl-i7', 'dl-i6']);
  });

  it('keeps at most the cap per tenant: the oldest go, and the drop is counted', async () => {
    const store = createDeadLetterStore(redis, { markerTtlSeconds: 60, cap: 3, listCap: 1_000 });
    await submit('t-capped', 'umbrella', 'echo');
    for (let i = 0; i < 5; i += 1) await store.store(`dl-c${i}`, letter('t-capped', 3_000 + i));
    const page = await createDeadLetterIndex(redis).list({ tenant: 'umbrella', pageSize: 10 });
    expect(page.deadLetters.map((record) => record.id)).toEqual(['dl-c4', 'dl-c3', 'dl-c2']);
    expect(page.dropped).toBe(2);
    expect(await redis.exists(KEYS.deadLetterRecord('dl-c0'), KEYS.deadLetterRecord('dl-c1'))).toBe(0);
  });

  it('keeps the newest entries of the global dead_letter list up to its cap', async () => {
    await redis.del(KEYS.deadLetter);
    const store = createDeadLetterStore(redis, { markerTtlSeconds: 60, cap: 100, listCap: 2 });
    await submit('t-listed', 'hooli', 'echo');
    for (let i = 0; i < 4; i += 1) await store.store(`dl-l${i}`, letter('t-listed', 4_000 + i));
    const listed = (await redis.lrange(KEYS.deadLetter, 0, -1)).map((entry) => (JSON.parse(entry) as { eventId: string }).eventId);
    expect(listed).toEqual(['dl-l3', 'dl-l2']);
    // The tenant's records are capped on their own.
    expect((await createDeadLetterIndex(redis).list({ tenant: 'hooli', pageSize: 10 })).deadLetters).toHaveLength(4);
  });
});
