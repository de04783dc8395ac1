// The SubmitTask script against a real redis-server: one call stores the task and its QUEUED
// status as applyStatus (the notifier's write) would, a known idempotency key changes nothing,
// and every key and channel carries the client's prefix.
import { RedisClient as Redis } from './redis-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEYS, type TaskEnvelope } from './contract';
import { createLogger } from './logger';
import { connectRedis, toChannel } from './redis';
import { applyStatus } from './status';
import { storeNewTask, type NewTaskInput } from './submit-task-script';
import { toTaskFields } from './task-record';
import { waitFor } from '../test/helpers/ports';
import { startRedisServer, type TestServer } from '../test/helpers/servers';

const PREFIX = 'submit-test:';
const logger = createLogger('submit-task-script-test', 'silent');

let server: TestServer;
let redis: Redis;
/** No prefix: sees the names as they are on the server. */
let plain: Redis;
let subscriber: Redis;
/** Every message published on the server, by channel name as sent (prefix included). */
const published = new Map<string, string[]>();
let nextId = 0;

beforeAll(async () => {
  server = await startRedisServer();
  redis = await connectRedis({ url: server.url, keyPrefix: PREFIX, name: 'test', logger });
  plain = new Redis(server.url);
  subscriber = new Redis(server.url);
  subscriber.on('pmessage', (_pattern: string, channel: string, message: string) => {
    published.set(channel, [...(published.get(channel) ?? []), message]);
  });
  await subscriber.psubscribe('*');
});

afterAll(async () => {
  subscriber?.disconnect();
  plain?.disconnect();
  redis?.disconnect();
  await server?.stop();
});

function envelopeOf(taskId: string, createdAtMs = 1_718_000_000_123): TaskEnvelope {
  return {
    taskId,
    type: 'echo',
    payload: '{"n":1}',
    priority: 'high',
    metadata: { origin: 'test' },
    maxAttempts: 3,
    createdAtMs,
    notBeforeMs: 0,
    tenant: 'acme',
  };
}

function inputOf(envelope: TaskEnvelope, idempotencyKey?: string): NewTaskInput {
  return { envelope, idempotencyKey, idempotencyTtlSeconds: 3600, stage: 'gateway' };
}

const newId = () => `task-${++nextId}-${Date.now()}`;

/** The messages on the channel of `taskId`, once there are at least `count`. */
async function messagesOn(taskId: string, count: number): Promise<string[]> {
  const channel = toChannel(redis, KEYS.statusChannel(taskId));
  await waitFor(`${count} message(s) on ${channel}`, () => (published.get(channel) ?? []).length >= count);
  return published.get(channel) ?? [];
}

/** Every key under the prefix with its type, contents and TTL: "nothing changed" as a value. */
async function snapshot(): Promise<Record<string, unknown>> {
  const state: Record<string, unknown> = {};
  for (const key of (await plain.keys(`${PREFIX}*`)).sort()) {
    const type = await plain.type(key);
    const ttl = await plain.ttl(key);
    if (type === 'hash') state[key] = { type, ttl, value: await plain.hgetall(key) };
    else if (type === 'list') state[key] = { type, ttl, value: await plain.lrange(key, 0, -1) };
    else if (type === 'zset') state[key] = { type, ttl, value: await plain.zrange(key, 0, -1, 'WITHSCORES') };
    else state[key] = { type, ttl, value: await plain.get(key) };
  }
  return state;
}

describe('storeNewTask (real Redis)', () => {
  it('stores a new task with the QUEUED status, history entry, channel message and index entry applyStatus writes', async () => {
    const viaScript = envelopeOf(newId());
    const viaTwoCalls = envelopeOf(newId());
    await expect(storeNewTask(redis, inputOf(viaScript))).resolves.toEqual({ taskId: viaScript.taskId, created: true, seq: 1 });
    // The way the gateway wrote a task before: its fields, then applyStatus (the notifier's write).
    await redis.hset(KEYS.task(viaTwoCalls.taskId), ...toTaskFields(viaTwoCalls));
    const queued = { state: 'QUEUED', stage: 'gateway', attempt: 0, message: '', progress: 0, updatedAtMs: viaTwoCalls.createdAtMs } as const;
    await expect(applyStatus(redis, { taskId: viaTwoCalls.taskId, ...queued })).resolves.toBe(1);

    const [scriptStatus, twoCallStatus] = await Promise.all([
      redis.hgetall(KEYS.status(viaScript.taskId)),
      redis.hgetall(KEYS.status(viaTwoCalls.taskId)),
    ]);
    expect(scriptStatus).toEqual(twoCallStatus);
    expect(scriptStatus).toEqual({
      seq: '1', state: 'QUEUED', stage: 'gateway', attempt: '0', message: '', progress: '0',
      updated_at_ms: String(viaScript.createdAtMs), rank_phase: '1', rank_sub: '0', terminal: '0',
    });

    const [scriptHistory, twoCallHistory] = await Promise.all([
      redis.lrange(KEYS.history(viaScript.taskId), 0, -1),
      redis.lrange(KEYS.history(viaTwoCalls.taskId), 0, -1),
    ]);
    expect(scriptHistory).toEqual(twoCallHistory);
    expect(scriptHistory.map((json) => JSON.parse(json) as unknown)).toEqual([{ seq: 1, ...queued, updatedAtMs: viaScript.createdAtMs }]);

    expect(await messagesOn(viaScript.taskId, 1)).toEqual(scriptHistory);
    expect(await messagesOn(viaTwoCalls.taskId, 1)).toEqual(twoCallHistory);

    expect(await redis.zscore(KEYS.activeTasks, viaScript.taskId)).toBe(String(viaScript.createdAtMs));
    expect(await redis.hgetall(KEYS.task(viaScript.taskId))).toEqual({
      ...(await redis.hgetall(KEYS.task(viaTwoCalls.taskId))),
      task_id: viaScript.taskId,
    });
  });

  it('stores the task once for an idempotency key; a repeat returns the first id and changes nothing', async () => {
    const first = envelopeOf(newId());
    const key = `order-${nextId}`;
    await expect(storeNewTask(redis, inputOf(first, key))).resolves.toEqual({ taskId: first.taskId, created: true, seq: 1 });
    expect(await redis.get(KEYS.idempotency('acme', key))).toBe(first.taskId);
    await messagesOn(first.taskId, 1);
    const before = await snapshot();

    const repeat = { ...envelopeOf(newId(), first.createdAtMs + 5_000), payload: '{"different":true}' };
    await expect(storeNewTask(redis, inputOf(repeat, key))).resolves.toEqual({ taskId: first.taskId, created: false, seq: 0 });

    expect(await snapshot()).toEqual(before);
    expect(await redis.exists(KEYS.task(repeat.taskId), KEYS.status(repeat.taskId), KEYS.history(repeat.taskId))).toBe(0);
    // A message published by the repeat would arrive before one published after it.
    const marker = envelopeOf(newId());
    await storeNewTask(redis, inputOf(marker));
    await messagesOn(marker.taskId, 1);
    expect(published.get(toChannel(redis, KEYS.statusChannel(first.taskId)))).toHaveLength(1);
    expect(published.has(toChannel(redis, KEYS.statusChannel(repeat.taskId)))).toBe(false);
  });

  it('scopes the idempotency key by tenant: the same key in another tenant creates another task', async () => {
    const key = `shared-${nextId}`;
    const acme = envelopeOf(newId());
    const other = { ...envelopeOf(newId()), tenant: 'other' };
    await expect(storeNewTask(redis, inputOf(acme, key))).resolves.toMatchObject({ taskId: acme.taskId, created: true });
    await expect(storeNewTask(redis, inputOf(other, key))).resolves.toMatchObject({ taskId: other.taskId, created: true });
    expect(await redis.ttl(KEYS.idempotency('other', key))).toBeGreaterThan(3590);
  });

  it('leaves a status that is already there as it is, and publishes nothing', async () => {
    const envelope = envelopeOf(newId());
    const taskId = envelope.taskId;
    await applyStatus(redis, { taskId, state: 'VALIDATED', stage: 'ingest', attempt: 0, message: 'before', progress: 0, updatedAtMs: 42 });
    await messagesOn(taskId, 1);
    const status = await redis.hgetall(KEYS.status(taskId));

    await expect(storeNewTask(redis, inputOf(envelope))).resolves.toEqual({ taskId, created: true, seq: 0 });
    expect(await redis.hgetall(KEYS.status(taskId))).toEqual(status);
    expect(await redis.llen(KEYS.history(taskId))).toBe(1);
    expect(await redis.zscore(KEYS.activeTasks, taskId)).toBe('42');
    expect(await redis.hget(KEYS.task(taskId), 'task_id')).toBe(taskId);
    const marker = envelopeOf(newId());
    await storeNewTask(redis, inputOf(marker));
    await messagesOn(marker.taskId, 1);
    expect(published.get(toChannel(redis, KEYS.statusChannel(taskId)))).toHaveLength(1);
  });

  it('writes every key and the channel under the client prefix, nothing without it', async () => {
    const envelope = envelopeOf(newId());
    const taskId = envelope.taskId;
    const key = `prefixed-${nextId}`;
    const before = new Set(await plain.keys('*'));
    await storeNewTask(redis, inputOf(envelope, key));
    // The index is left out here: the tests before this one made it already.
    const written = (await plain.keys('*')).filter((name) => !before.has(name) && name !== `${PREFIX}${KEYS.activeTasks}`).sort();
    expect(written).toEqual(
      [KEYS.idempotency('acme', key), KEYS.task(taskId), KEYS.status(taskId), KEYS.history(taskId)].map((name) => `${PREFIX}${name}`).sort(),
    );
    expect(await plain.zscore(`${PREFIX}${KEYS.activeTasks}`, taskId)).toBe(String(envelope.createdAtMs));
    expect(await plain.keys('task*')).toEqual([]);
    expect(await plain.exists(KEYS.activeTasks)).toBe(0);
    expect(await messagesOn(taskId, 1)).toHaveLength(1);
    expect([...published.keys()].every((channel) => channel.startsWith(PREFIX))).toBe(true);
  });
});
