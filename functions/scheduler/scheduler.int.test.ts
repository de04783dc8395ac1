// The scheduler in-process (two instances, so two promoters) against real nats-server and
// redis-server. Publishes are counted with a core NATS subscription, which sees every publish
// (JetStream's duplicate window would hide a double publish from a stream consumer).
import { randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { RedisClient as Redis } from '../../shared/redis-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEnvReader, DEFAULT_REDIS_KEY_PREFIX, readFlowSettings } from '../../shared/config';
import { EVENT_TYPES, KEYS, SUBJECTS, type Priority, type TaskEnvelope } from '../../shared/contract';
import { EVENT_IDS } from '../../shared/emit';
import { createEvent, type WireEvent } from '../../shared/events';
import { createLogger } from '../../shared/logger';
import { setupFlow } from '../../shared/flow-setup';
import { defineScripts } from '../../shared/redis';
import { startFunction, type RunningFunction } from '../../shared/runtime/start-function';
import { applyStatus } from '../../shared/status';
import { collectEvents, postBinary, postStructured, type EventCollector } from '../../test/helpers/events';
import { waitFor } from '../../test/helpers/ports';
import { startNatsServer, startRedisServer, type TestServer } from '../../test/helpers/servers';
import { definition } from './definition';
import { toAuditRecords, toStatusUpdates } from '../../test/helpers/steps';

const logger = createLogger('test', 'silent');

function envelope(overrides: Partial<TaskEnvelope> = {}): TaskEnvelope {
  return {
    taskId: randomUUID(),
    type: 'echo',
    payload: '{"hello":"world"}',
    priority: 'medium',
    metadata: {},
    maxAttempts: 5,
    createdAtMs: Date.now(),
    notBeforeMs: 0,
    tenant: 'acme',
    enrichment: { region: 'eu-west', tier: 'standard' },
    ...overrides,
  };
}

function accepted(data: TaskEnvelope): WireEvent {
  return createEvent({ id: EVENT_IDS.accepted(data.taskId), component: 'ingest', type: EVENT_TYPES.accepted, taskId: data.taskId, data });
}

type Received = { subject: string; event: WireEvent; atMs: number };

describe('scheduler (real NATS and Redis, two promoters)', () => {
  let natsServer: TestServer;
  let redisServer: TestServer;
  let nc: NatsConnection;
  let redis: Redis;
  let first: RunningFunction;
  let second: RunningFunction;
  let events: EventCollector;
  const received: Received[] = [];

  const url = (fn: RunningFunction) => `http://127.0.0.1:${fn.port}/`;
  const receivedFor = (taskId: string) => received.filter((r) => r.event.subject === taskId);
  const eventsFor = (taskId: string) => events.events.filter((e) => e.subject === taskId);

  /** The delayed entry, its lease and its stored event are all gone. */
  async function delayedStateGone(taskId: string): Promise<boolean> {
    const [queued, leased, stored] = await Promise.all([
      redis.zscore(KEYS.delayedQueue, taskId),
      redis.zscore(KEYS.delayedLeases, taskId),
      redis.exists(KEYS.delayedEvent(taskId)),
    ]);
    return queued === null && leased === null && stored === 0;
  }

  beforeAll(async () => {
    natsServer = await startNatsServer();
    redisServer = await startRedisServer();
    nc = await connect({ servers: natsServer.url, maxReconnectAttempts: -1 });
    await setupFlow(nc, readFlowSettings(createEnvReader({})), logger);
    redis = new Redis(redisServer.url, { keyPrefix: DEFAULT_REDIS_KEY_PREFIX });
    redis.on('error', () => undefined);
    defineScripts(redis);
    const env = {
      PORT: '0',
      NATS_URL: natsServer.url,
      REDIS_URL: redisServer.url,
      LOG_LEVEL: 'silent',
      TM_PROMOTER_INTERVAL_MS: '20',
      // Small batches, so the two promoters really do interleave their claims.
      TM_PROMOTER_BATCH_SIZE: '5',
    };
    first = await startFunction(definition, env);
    second = await startFunction(definition, env);
    nc.subscribe('tasks.worker.>', {
      callback: (_err, msg) => {
        received.push({ subject: msg.subject, event: JSON.parse(new TextDecoder().decode(msg.data)) as WireEvent, atMs: Date.now() });
      },
    });
    events = collectEvents(nc, 'events.>');
    await nc.flush();
  });

  afterAll(async () => {
    events?.stop();
    await first?.stop();
    await second?.stop();
    await nc?.close();
    redis?.disconnect();
    await natsServer?.stop();
    await redisServer?.stop();
  });

  it('routes each priority to its worker subject, in binary and structured mode', async () => {
    const expected: [Priority, string][] = [
      ['high', SUBJECTS.workerHigh],
      ['medium', SUBJECTS.workerMedium],
      ['low', SUBJECTS.workerLow],
    ];
    for (const [index, [priority, subject]] of expected.entries()) {
      const task = envelope({ priority });
      const post = index % 2 === 0 ? postBinary : postStructured;
      const response = await post(url(first), accepted(task));
      expect(response.status).toBe(204);
      const got = await waitFor(`the ${priority} task`, () => receivedFor(task.taskId)[0]);
      expect(got.subject).toBe(subject);
      expect(got.event).toMatchObject({ id: EVENT_IDS.scheduled(task.taskId), type: EVENT_TYPES.scheduled, source: '/taskmanager/scheduler' });
      expect(got.event.data).toEqual(task);
      await nc.flush();
      const states = eventsFor(task.taskId).filter((e) => e.type === EVENT_TYPES.statusChanged).flatMap(toStatusUpdates).map((u) => u.state);
      expect(states).toEqual(['SCHEDULED']);
    }
  });

  it('a delayed task is not published before its time, and is published once after it', async () => {
    const task = envelope({ priority: 'high', notBeforeMs: Date.now() + 1_500 });
    const response = await postBinary(url(first), accepted(task));
    expect(response.status).toBe(204);

    expect(Number(await redis.zscore(KEYS.delayedQueue, task.taskId))).toBe(task.notBeforeMs);
    const stored = JSON.parse((await redis.get(KEYS.delayedEvent(task.taskId)))!) as WireEvent;
    expect(stored).toMatchObject({ id: EVENT_IDS.scheduled(task.taskId), data: task });
    await nc.flush();
    expect(receivedFor(task.taskId)).toEqual([]);
    const status = toStatusUpdates(eventsFor(task.taskId).find((e) => e.type === EVENT_TYPES.statusChanged)!)[0]!;
    expect(status).toMatchObject({ state: 'SCHEDULED', message: `delayed until ${new Date(task.notBeforeMs).toISOString()}` });

    const got = await waitFor('the promoted task', () => receivedFor(task.taskId)[0]);
    expect(got.atMs).toBeGreaterThanOrEqual(task.notBeforeMs);
    expect(got.subject).toBe(SUBJECTS.workerHigh);
    expect(got.event.data).toEqual(task);
    await waitFor('the delayed entry to be cleaned up', () => delayedStateGone(task.taskId));
    await nc.flush();
    expect(receivedFor(task.taskId)).toHaveLength(1);
  });

  it('a redelivered accepted event for a delayed task stores it once and it is published once', async () => {
    const task = envelope({ notBeforeMs: Date.now() + 500 });
    expect((await postBinary(url(first), accepted(task))).status).toBe(204);
    expect((await postStructured(url(second), accepted(task))).status).toBe(204);
    expect(Number(await redis.zscore(KEYS.delayedQueue, task.taskId))).toBe(task.notBeforeMs);
    await waitFor('the promoted task', () => receivedFor(task.taskId)[0]);
    await waitFor('the delayed entry to be cleaned up', () => delayedStateGone(task.taskId));
    await nc.flush();
    expect(receivedFor(task.taskId)).toHaveLength(1);
  });

  it('two promoters running concurrently publish each of 50 delayed tasks exactly once', async () => {
    // Far enough ahead that posting all 50 finishes first even on a loaded machine.
    const dueAt = Date.now() + 5_000;
    const batch = Array.from({ length: 50 }, (_, i) => envelope({ notBeforeMs: dueAt, priority: (['high', 'medium', 'low'] as const)[i % 3] }));
    const responses = await Promise.all(batch.map((task, i) => postBinary(url(i % 2 === 0 ? first : second), accepted(task))));
    expect(responses.map((r) => r.status)).toEqual(batch.map(() => 204));
    expect(batch.filter((task) => received.some((r) => r.event.subject === task.taskId))).toEqual([]);

    await waitFor('all 50 tasks to be published', () => batch.every((task) => receivedFor(task.taskId).length > 0), 20_000);
    await waitFor('every delayed entry to be cleaned up', async () =>
      (await Promise.all(batch.map((task) => delayedStateGone(task.taskId)))).every(Boolean),
    );
    await nc.flush();
    const counts = batch.map((task) => receivedFor(task.taskId).length);
    expect(counts).toEqual(batch.map(() => 1));
  });

  it('a task claimed by a promoter that then died is published once its lease expires', async () => {
    const task = envelope({ priority: 'low', notBeforeMs: Date.now() - 1 });
    const scheduled = createEvent({ id: EVENT_IDS.scheduled(task.taskId), component: 'scheduler', type: EVENT_TYPES.scheduled, taskId: task.taskId, data: task });
    await redis.set(KEYS.delayedEvent(task.taskId), JSON.stringify(scheduled));
    // What a promoter that died right after claiming leaves behind: the stored event and a lease
    // (short here), but no entry in the queue and nobody to publish it.
    await redis.zadd(KEYS.delayedLeases, Date.now() + 400, task.taskId);
    await nc.flush();
    expect(receivedFor(task.taskId)).toEqual([]);

    const got = await waitFor('the re-claimed task', () => receivedFor(task.taskId)[0]);
    expect(got.subject).toBe(SUBJECTS.workerLow);
    await waitFor('the lease to be dropped', () => delayedStateGone(task.taskId));
    await nc.flush();
    expect(receivedFor(task.taskId)).toHaveLength(1);
  });

  it('a cancelled task is acked and never published, now or later', async () => {
    for (const notBeforeMs of [0, Date.now() + 60_000]) {
      const task = envelope({ notBeforeMs });
      await applyStatus(redis, {
        taskId: task.taskId, state: 'CANCELLED', stage: 'gateway', attempt: 0, message: '', progress: 0, updatedAtMs: Date.now(),
      });
      expect((await postBinary(url(first), accepted(task))).status).toBe(204);
      await nc.flush();
      expect(receivedFor(task.taskId)).toEqual([]);
      expect(await redis.zscore(KEYS.delayedQueue, task.taskId)).toBeNull();
      expect(eventsFor(task.taskId).flatMap(toAuditRecords).map((a) => a.action)).toEqual(['skipped.cancelled']);
    }
  });

  it.each([
    ['an event type the scheduler does not take', (task: TaskEnvelope) => ({ ...accepted(task), type: EVENT_TYPES.submitted }), /unsupported event type/],
    ['a malformed envelope', (task: TaskEnvelope) => ({ ...accepted(task), data: { ...task, priority: 'urgent' } }), /data\.priority must be one of/],
    ['a missing specversion', (task: TaskEnvelope) => ({ ...accepted(task), specversion: '' }), /specversion/],
  ])('%s gets 400 with a reason and changes nothing', async (_name, build, reason) => {
    const task = envelope({ notBeforeMs: Date.now() + 60_000 });
    const response = await postBinary(url(first), build(task) as WireEvent);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toMatch(reason);
    await nc.flush();
    expect(eventsFor(task.taskId)).toEqual([]);
    expect(await redis.zscore(KEYS.delayedQueue, task.taskId)).toBeNull();
  });

  it('the promoters survive a Redis restart and promote tasks stored after it', async () => {
    redisServer.kill('SIGKILL');
    await waitFor('the scheduler to notice Redis is gone', async () => {
      const response = await fetch(`${url(first)}health/readiness`);
      return response.status === 503;
    });
    await redisServer.restart();
    await waitFor('the scheduler to be ready again', async () => (await fetch(`${url(first)}health/readiness`)).ok);

    const task = envelope({ notBeforeMs: Date.now() + 200 });
    expect((await postBinary(url(second), accepted(task))).status).toBe(204);
    await waitFor('the task delayed after the restart', () => receivedFor(task.taskId)[0]);
    await waitFor('the delayed entry to be cleaned up', () => delayedStateGone(task.taskId));
    await nc.flush();
    expect(receivedFor(task.taskId)).toHaveLength(1);
  });
});
