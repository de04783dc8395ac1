// The audit function against a real redis-server (and nats-server, which every function
// connects to): the function runs in-process via startFunction and receives real HTTP deliveries.
import { randomUUID } from 'node:crypto';
import type { Redis } from '../../shared/redis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_REDIS_KEY_PREFIX } from '../../shared/config';
import { EVENT_TYPES, KEYS, type AuditData } from '../../shared/contract';
import { EVENT_IDS } from '../../shared/emit';
import { createEvent, type WireEvent } from '../../shared/events';
import { createLogger } from '../../shared/logger';
import { connectRedis } from '../../shared/redis';
import { startFunction, type RunningFunction } from '../../shared/runtime/start-function';
import { postBinary, postStructured } from '../../test/helpers/events';
import { startNatsServer, startRedisServer, type TestServer } from '../../test/helpers/servers';
import { createAuditTrail } from '../../shared/task-audit';
import { AUDIT_MARKER_TTL_SECONDS, definition } from './definition';

const CAP = 5;
const RETENTION_SECONDS = 3_600;

function auditEvent(taskId: string, action: string): WireEvent<AuditData> {
  const data: AuditData = { taskId, stage: 'worker', action, attempt: 1, detail: `did ${action}`, atMs: Date.now() };
  return createEvent({ id: EVENT_IDS.audit(taskId, 'worker', action, 1), component: 'worker', type: EVENT_TYPES.auditRecorded, taskId, data });
}

async function auditIds(redis: Redis): Promise<string[]> {
  return (await redis.lrange(KEYS.auditEvents, 0, -1)).map((json) => (JSON.parse(json) as { eventId: string }).eventId);
}

describe('audit (real Redis)', () => {
  let nats: TestServer;
  let redisServer: TestServer;
  let audit: RunningFunction;
  let redis: Redis;
  let url: string;

  beforeAll(async () => {
    nats = await startNatsServer();
    redisServer = await startRedisServer();
    audit = await startFunction(definition, {
      PORT: '0',
      NATS_URL: nats.url,
      REDIS_URL: redisServer.url,
      LOG_LEVEL: 'silent',
      TM_AUDIT_MAX: String(CAP),
      TM_RETENTION_SECONDS: String(RETENTION_SECONDS),
    });
    url = `http://127.0.0.1:${audit.port}/`;
    redis = await connectRedis({ url: redisServer.url, keyPrefix: DEFAULT_REDIS_KEY_PREFIX, name: 'test', logger: createLogger('test', 'silent') });
  });

  afterAll(async () => {
    redis?.disconnect();
    await audit?.stop();
    await redisServer?.stop();
    await nats?.stop();
  });

  beforeEach(async () => {
    // Our own server: each test starts from an empty list.
    await redis.del(KEYS.auditEvents);
  });

  it('the same audit event delivered 3 times (also concurrently, in both modes) is stored once', async () => {
    const event = auditEvent(randomUUID(), 'handler.started');
    const responses = await Promise.all([postBinary(url, event), postStructured(url, event), postBinary(url, event)]);
    expect(responses.map((r) => r.status)).toEqual([204, 204, 204]);
    expect((await postBinary(url, event)).status).toBe(204);

    const entries = await redis.lrange(KEYS.auditEvents, 0, -1);
    expect(entries).toHaveLength(1);
    expect(JSON.parse(entries[0]!)).toEqual({ ...event.data, eventId: event.id });
    const markerTtl = await redis.ttl(KEYS.processed('audit', event.id));
    expect(markerTtl).toBeGreaterThan(AUDIT_MARKER_TTL_SECONDS - 60);
    expect(markerTtl).toBeLessThanOrEqual(AUDIT_MARKER_TTL_SECONDS);
  });

  it(`TM_AUDIT_MAX caps audit_events: the newest ${CAP} are kept, newest first`, async () => {
    const taskId = randomUUID();
    const events = Array.from({ length: CAP + 4 }, (_v, i) => auditEvent(taskId, `step-${i}`));
    for (const event of events) expect((await postBinary(url, event)).status).toBe(204);
    expect(await auditIds(redis)).toEqual(
      events
        .slice(-CAP)
        .map((e) => e.id)
        .reverse(),
    );
  });

  it("keeps each task's trail in time order, each record once, beyond the global cap", async () => {
    const taskId = randomUUID();
    const events = Array.from({ length: CAP + 3 }, (_v, i) => {
      const event = auditEvent(taskId, `step-${i}`);
      return { ...event, data: { ...event.data, atMs: 1_000 + (CAP + 3 - i) } };
    });
    // Delivered newest first and one twice: the trail is still oldest first, each record once.
    for (const event of [...events, events[2]!]) expect((await postBinary(url, event)).status).toBe(204);
    const trail = createAuditTrail(redis);
    const whole = await trail.read(taskId, 1000);
    expect(whole.records.map((record) => record.action)).toEqual(events.map((event) => event.data.action).reverse());
    expect(whole.next).toBeUndefined();
    const first = await trail.read(taskId, 3);
    const rest = await trail.read(taskId, 1000, first.next);
    expect([...first.records, ...rest.records]).toEqual(whole.records);
  });

  it('a trail expires with its task: the task time to live, or the retention when the task is gone', async () => {
    const finished = randomUUID();
    await redis.hset(KEYS.task(finished), 'task_id', finished);
    await redis.expire(KEYS.task(finished), 100);
    expect((await postBinary(url, auditEvent(finished, 'late'))).status).toBe(204);
    const ttl = await redis.ttl(KEYS.taskAudit(finished));
    expect(ttl).toBeGreaterThan(90);
    expect(ttl).toBeLessThanOrEqual(100);

    const running = randomUUID();
    await redis.hset(KEYS.task(running), 'task_id', running);
    expect((await postBinary(url, auditEvent(running, 'started'))).status).toBe(204);
    // Kept while the task runs; the status script expires it when the task finishes.
    expect(await redis.ttl(KEYS.taskAudit(running))).toBe(-1);

    const gone = randomUUID();
    expect((await postBinary(url, auditEvent(gone, 'orphan'))).status).toBe(204);
    expect(await redis.ttl(KEYS.taskAudit(gone))).toBeGreaterThan(RETENTION_SECONDS - 60);
  });

  it('refuses a malformed audit event with 400 naming the field, and stores nothing', async () => {
    const event = auditEvent(randomUUID(), 'bad');
    const response = await postBinary(url, { ...event, data: { ...event.data, attempt: 'one' } });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toMatch(/data\.attempt/);
    expect(await redis.llen(KEYS.auditEvents)).toBe(0);
    expect(await redis.exists(KEYS.processed('audit', event.id))).toBe(0);
  });
});
