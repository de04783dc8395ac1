// The queue stats of GetQueueStats against a real nats-server (streams and consumers as the setup
// job makes them) and a real redis-server: what each consumer holds, the delayed tasks, the
// tenant's dead letters, and the cache in front of the JetStream reads.
import { readFileSync } from 'node:fs';
import { jetstream, jetstreamManager, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Redis } from './redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_FLOW_SETTINGS, KEYS, SUBJECTS, type DeadLetterData } from './contract';
import { createDeadLetterStore } from './dead-letters';
import { DependencyUnavailableError } from './errors';
import { createLogger } from './logger';
import { setupFlow } from './flow-setup';
import { waitFor } from '../test/helpers/ports';
import { QUEUE_NAMES, type QueueName } from './queues';
import { createQueueStatsReader, type QueueStats, type QueueStatsDeps, type QueueStatsSnapshot } from './queue-stats';
import { connectRedis } from './redis';
import { storeNewTask } from './submit-task-script';
import { startNatsServer, startRedisServer, type TestServer } from '../test/helpers/servers';

const logger = createLogger('queue-stats-test', 'silent');
let natsServer: TestServer;
let redisServer: TestServer;
let nc: NatsConnection;
let js: JetStreamClient;
let redis: Redis;

beforeAll(async () => {
  [natsServer, redisServer] = await Promise.all([startNatsServer(), startRedisServer()]);
  nc = await connect({ servers: natsServer.url });
  js = jetstream(nc);
  redis = await connectRedis({ url: redisServer.url, keyPrefix: 'qs-test:', name: 'test', logger });
});

afterAll(async () => {
  redis?.disconnect();
  await nc?.close();
  await Promise.all([natsServer?.stop(), redisServer?.stop()]);
});

/** A clock the test moves by hand. */
function manualClock(ms = Date.now()) {
  const clock = { ms, now: () => clock.ms };
  return clock;
}

function reader(overrides: Partial<QueueStatsDeps> = {}) {
  return createQueueStatsReader({ nc, redis, now: Date.now, cacheMs: 0, deadLetterCap: 100, ...overrides });
}

function queueOf(snapshot: QueueStatsSnapshot, name: QueueName): QueueStats {
  const found = snapshot.queues.find((stats) => stats.queue === name);
  if (!found) throw new Error(`no stats for ${name}`);
  return found;
}

async function publish(subject: string, count: number): Promise<void> {
  for (let i = 0; i < count; i += 1) await js.publish(subject, `{"n":${i}}`);
}

/** Pulls `count` messages of a consumer and keeps them unacked, as a stage mid-delivery does. */
async function pull(durable: string, count: number, stream = 'TASKS'): Promise<JsMsg[]> {
  const consumer = await js.consumers.get(stream, durable);
  const held: JsMsg[] = [];
  for await (const msg of await consumer.fetch({ max_messages: count, expires: 2_000 })) held.push(msg);
  expect(held).toHaveLength(count);
  return held;
}

async function ackAll(messages: readonly JsMsg[]): Promise<void> {
  for (const msg of messages) await msg.ackAck();
}

describe('queue stats (real NATS and Redis)', () => {
  it('before the setup job ran (no stream, no consumer), every queue reads as zeros with no consumers', async () => {
    const snapshot = await reader().read('acme');
    expect(snapshot.queues.map((stats) => stats.queue)).toEqual([...QUEUE_NAMES]);
    for (const stats of snapshot.queues) {
      expect(stats).toEqual({ queue: stats.queue, pending: 0, inFlight: 0, oldestPendingAgeMs: 0, consumers: 0 });
    }
    await setupFlow(nc, DEFAULT_FLOW_SETTINGS, logger);
  });

  it('shows what worker.medium holds: undelivered as pending, pulled and unacked as in flight, the first held message’s age; zeros once all are acked', async () => {
    const N = 5;
    const K = 2;
    const beforeFirst = Date.now();
    await publish(SUBJECTS.workerMedium, 1);
    const afterFirst = Date.now();
    await publish(SUBJECTS.workerMedium, N - 1);
    const held = await pull('worker-medium', K);

    const clock = manualClock(Date.now() + 5_000);
    const snapshot = await reader({ now: clock.now }).read('acme');
    const medium = queueOf(snapshot, 'worker.medium');
    const info = await (await jetstreamManager(nc)).consumers.info('TASKS', 'worker-medium');
    expect({ pending: medium.pending, inFlight: medium.inFlight }).toEqual({ pending: N - K, inFlight: K });
    expect({ pending: info.num_pending, inFlight: info.num_ack_pending }).toEqual({ pending: N - K, inFlight: K });
    expect(medium.consumers).toBe(1);
    // The first held message was published between beforeFirst and afterFirst (same host clock).
    expect(medium.oldestPendingAgeMs).toBeGreaterThanOrEqual(clock.ms - afterFirst);
    expect(medium.oldestPendingAgeMs).toBeLessThanOrEqual(clock.ms - beforeFirst);
    expect(snapshot.sampledAtMs).toBe(clock.ms);
    expect(queueOf(snapshot, 'worker.high')).toEqual({ queue: 'worker.high', pending: 0, inFlight: 0, oldestPendingAgeMs: 0, consumers: 1 });

    await ackAll(held);
    await ackAll(await pull('worker-medium', N - K));
    const drained = queueOf(await reader({ now: clock.now }).read('acme'), 'worker.medium');
    expect(drained).toEqual({ queue: 'worker.medium', pending: 0, inFlight: 0, oldestPendingAgeMs: 0, consumers: 1 });
  });

  it('sums audit’s two consumers (its records and the status steps) and takes the oldest message of either', async () => {
    const beforeStatus = Date.now();
    await publish(SUBJECTS.status, 3);
    await publish(SUBJECTS.audit, 2);
    const clock = manualClock(Date.now() + 1_000);
    const snapshot = await reader({ now: clock.now }).read('acme');
    const audit = queueOf(snapshot, 'audit');
    expect({ pending: audit.pending, inFlight: audit.inFlight, consumers: audit.consumers }).toEqual({ pending: 5, inFlight: 0, consumers: 2 });
    // The oldest is a status step, older than any audit record.
    expect(audit.oldestPendingAgeMs).toBeLessThanOrEqual(clock.ms - beforeStatus);
    expect(audit.oldestPendingAgeMs).toBeGreaterThanOrEqual(queueOf(snapshot, 'status').oldestPendingAgeMs);
    expect(queueOf(snapshot, 'status')).toMatchObject({ pending: 3, inFlight: 0, consumers: 1 });
    await ackAll(await pull('audit', 2, 'EVENTS'));
    await ackAll(await pull('audit-status', 3, 'EVENTS'));
    await ackAll(await pull('notifier', 3, 'EVENTS'));
    const after = await reader({ now: clock.now }).read('acme');
    expect(queueOf(after, 'audit')).toMatchObject({ pending: 0, inFlight: 0, oldestPendingAgeMs: 0 });
  });

  it('counts delayed tasks waiting for their time, those a promoter has claimed included', async () => {
    await redis.zadd(KEYS.delayedQueue, 1_000, 'd1', 2_000, 'd2', 9_000_000_000_000, 'd3');
    // A promoter claims the due ones: they move from the set to the leases until published.
    expect(await redis.claimDue(KEYS.delayedQueue, KEYS.delayedLeases, 5_000, 30_000, 10)).toEqual(['d1', 'd2']);
    expect((await reader().read('acme')).delayed).toBe(3);
    await redis.zrem(KEYS.delayedLeases, 'd1');
    expect((await reader().read('acme')).delayed).toBe(2);
  });

  it('shows each tenant its own dead letters, the cap, and what the cap dropped', async () => {
    const store = createDeadLetterStore(redis, { markerTtlSeconds: 60, cap: 2, listCap: 1_000 });
    const letter = (taskId: string, atMs: number): DeadLetterData => ({ taskId, stage: 'worker', reason: 'r', attempts: 5, lastError: 'e', event: null, atMs });
    for (const [taskId, tenant] of [['t-a', 'tenant-a'], ['t-b', 'tenant-b']] as const) {
      const envelope = { taskId, type: 'echo', payload: '{}', priority: 'medium' as const, metadata: {}, maxAttempts: 5, createdAtMs: 1, notBeforeMs: 0, tenant };
      await storeNewTask(redis, { envelope, idempotencyKey: undefined, idempotencyTtlSeconds: 60, stage: 'gateway' });
    }
    for (let i = 0; i < 3; i += 1) await store.store(`dl-a${i}`, letter('t-a', 1_000 + i));
    await store.store('dl-b0', letter('t-b', 1_000));

    const stats = reader({ deadLetterCap: 2 });
    expect(await stats.read('tenant-a')).toMatchObject({ deadLetters: 2, deadLettersDropped: 1, deadLetterCap: 2 });
    expect(await stats.read('tenant-b')).toMatchObject({ deadLetters: 1, deadLettersDropped: 0, deadLetterCap: 2 });
    expect(await stats.read('tenant-c')).toMatchObject({ deadLetters: 0, deadLettersDropped: 0 });
  });
});

describe('queue stats: cost bounds', () => {
  it('within cacheMs a second read serves the same JetStream numbers; after it, reads them again', async () => {
    const clock = manualClock();
    const stats = reader({ now: clock.now, cacheMs: 1_000 });
    const first = await stats.read('acme');
    expect(queueOf(first, 'worker.low').pending).toBe(0);
    await publish(SUBJECTS.workerLow, 2);
    clock.ms += 999;
    const cached = await stats.read('acme');
    expect(cached.sampledAtMs).toBe(first.sampledAtMs);
    expect(queueOf(cached, 'worker.low').pending).toBe(0);
    clock.ms += 1;
    const fresh = await stats.read('acme');
    expect(fresh.sampledAtMs).toBe(clock.ms);
    expect(queueOf(fresh, 'worker.low').pending).toBe(2);
    await ackAll(await pull('worker-low', 2));
  });

  it('concurrent reads share one refresh of the JetStream numbers', async () => {
    // Each reading of the clock moves it: reads that sampled separately would differ.
    let ms = 1_000_000;
    const stats = reader({ now: () => (ms += 1), cacheMs: 0 });
    const snapshots = await Promise.all(['acme', 'acme', 'tenant-a', 'tenant-b', 'acme'].map((tenant) => stats.read(tenant)));
    expect(new Set(snapshots.map((snapshot) => snapshot.sampledAtMs)).size).toBe(1);
    const later = await stats.read('acme');
    expect(later.sampledAtMs).toBeGreaterThan(snapshots[0]!.sampledAtMs);
  });

  it('a caller that changes its snapshot does not change what the next caller is served', async () => {
    const stats = reader({ now: manualClock().now, cacheMs: 60_000 });
    const first = await stats.read('acme');
    queueOf(first, 'ingest').pending = 99;
    expect(queueOf(await stats.read('acme'), 'ingest').pending).toBe(0);
  });
});

describe('queue stats: unreachable dependencies', () => {
  it('when NATS does not answer, fails with DependencyUnavailableError naming the consumer', async () => {
    natsServer.kill('SIGSTOP');
    try {
      // Stopped for sure before the read (the state letter of /proc/<pid>/stat is T).
      await waitFor('nats-server to be stopped', async () => readFileSync(`/proc/${natsServer.pid()}/stat`, 'utf8').split(') ')[1]?.startsWith('T') || undefined, 5_000);
      const failure = reader({ timeoutMs: 300 }).read('acme');
      await expect(failure).rejects.toBeInstanceOf(DependencyUnavailableError);
      await expect(failure).rejects.toThrow(/nats unavailable while reading what \S+ holds/);
    } finally {
      natsServer.kill('SIGCONT');
    }
  });

  it('when Redis is down, fails with DependencyUnavailableError naming the tenant’s read', async () => {
    redisServer.kill('SIGKILL');
    const failure = reader().read('acme');
    await expect(failure).rejects.toBeInstanceOf(DependencyUnavailableError);
    await expect(failure).rejects.toThrow(/redis unavailable while reading the queue stats of tenant acme/);
  });
});
