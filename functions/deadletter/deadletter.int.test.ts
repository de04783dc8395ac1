// The deadletter function against a real redis-server (and nats-server, which every function
// connects to): the function runs in-process via startFunction and receives real HTTP deliveries.
import { randomUUID } from 'node:crypto';
import type { Redis } from '../../shared/redis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_REDIS_KEY_PREFIX } from '../../shared/config';
import { EVENT_TYPES, KEYS, type DeadLetterData } from '../../shared/contract';
import { EVENT_IDS } from '../../shared/emit';
import { createEvent, type WireEvent } from '../../shared/events';
import { createLogger } from '../../shared/logger';
import { connectRedis } from '../../shared/redis';
import { startFunction, type RunningFunction } from '../../shared/runtime/start-function';
import { postBinary, postStructured } from '../../test/helpers/events';
import { startNatsServer, startRedisServer, type TestServer } from '../../test/helpers/servers';
import { definition } from './definition';

function deadLetterEvent(taskId: string, stage = 'worker'): WireEvent<DeadLetterData> {
  const failed = createEvent({ id: EVENT_IDS.scheduled(taskId), component: 'scheduler', type: EVENT_TYPES.scheduled, taskId, data: { taskId } });
  const data: DeadLetterData = {
    taskId,
    stage,
    reason: 'failed after 5 attempts',
    attempts: 5,
    lastError: 'fail task: boom',
    event: failed,
    atMs: Date.now(),
  };
  return createEvent({ id: EVENT_IDS.deadLetter(taskId, stage), component: stage, type: EVENT_TYPES.deadlettered, taskId, data });
}

describe('deadletter (real Redis)', () => {
  let nats: TestServer;
  let redisServer: TestServer;
  let deadletter: RunningFunction;
  let redis: Redis;
  let url: string;

  beforeAll(async () => {
    nats = await startNatsServer();
    redisServer = await startRedisServer();
    deadletter = await startFunction(definition, { PORT: '0', NATS_URL: nats.url, REDIS_URL: redisServer.url, LOG_LEVEL: 'silent' });
    url = `http://127.0.0.1:${deadletter.port}/`;
    redis = await connectRedis({ url: redisServer.url, keyPrefix: DEFAULT_REDIS_KEY_PREFIX, name: 'test', logger: createLogger('test', 'silent') });
  });

  afterAll(async () => {
    redis?.disconnect();
    await deadletter?.stop();
    await redisServer?.stop();
    await nats?.stop();
  });

  beforeEach(async () => {
    // Our own server: each test starts from an empty list.
    await redis.del(KEYS.deadLetter);
  });

  it('the same dead-letter event delivered 3 times (also concurrently, in both modes) is stored once, with the reason, stage, attempts, last error and event', async () => {
    const event = deadLetterEvent(randomUUID());
    const responses = await Promise.all([postBinary(url, event), postStructured(url, event), postBinary(url, event)]);
    expect(responses.map((r) => r.status)).toEqual([204, 204, 204]);
    expect((await postStructured(url, event)).status).toBe(204);

    const entries = await redis.lrange(KEYS.deadLetter, 0, -1);
    expect(entries).toHaveLength(1);
    expect(JSON.parse(entries[0]!)).toEqual({ ...event.data, eventId: event.id });
  });

  it('keeps every distinct dead letter: the list is never trimmed', async () => {
    const events = Array.from({ length: 30 }, () => deadLetterEvent(randomUUID()));
    for (const event of events) expect((await postBinary(url, event)).status).toBe(204);
    const ids = (await redis.lrange(KEYS.deadLetter, 0, -1)).map((json) => (JSON.parse(json) as { eventId: string }).eventId);
    expect(ids).toEqual(events.map((e) => e.id).reverse());
  });

  it('two stages dead-lettering the same task are two entries', async () => {
    const taskId = randomUUID();
    for (const stage of ['worker', 'source:worker']) expect((await postBinary(url, deadLetterEvent(taskId, stage))).status).toBe(204);
    expect(await redis.llen(KEYS.deadLetter)).toBe(2);
  });

  it('refuses a malformed dead letter with 400 naming the field, and stores nothing', async () => {
    const event = deadLetterEvent(randomUUID());
    const response = await postBinary(url, { ...event, data: { ...event.data, attempts: -1 } });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toMatch(/data\.attempts/);
    expect(await redis.llen(KEYS.deadLetter)).toBe(0);
    expect(await redis.exists(KEYS.deadLetterSeen(event.id))).toBe(0);
  });
});
