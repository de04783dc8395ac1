// What GetQueueStats answers (DESIGN §3): per queue, what its consumers hold in JetStream; the
// delayed tasks waiting for their time; and the caller's dead letters with the cap that bounds
// them and what the cap dropped (never silently). Pause state is not read here: the gateway
// owns it and merges it in.
//
// Cost: the JetStream part is one consumer INFO per consumer plus one STREAM.MSG.GET per consumer
// that holds something, all at once, and it is shared by every tenant and cached for `cacheMs`
// (TM_QUEUE_STATS_CACHE_MS), with concurrent callers sharing one refresh: a client polling in a
// loop costs JetStream at most one round per `cacheMs`. The Redis part is one pipelined round
// trip of O(1) commands per call, no dearer than a GetTask, so it is read fresh.
import type { EnvReader } from './config';
import { createConsumerHoldReader, type ConsumerHold } from './consumer-holds';
import { KEYS, type ConsumerSpec } from './contract';
import { readDeadLetterCap } from './dead-letters';
import type { NatsConnection } from './nats';
import { QUEUES, type QueueName } from './queues';
import type { Redis } from './redis';
import { guarded } from './redis-stores';
import { createRefreshCache } from './refresh-cache';

export type QueueStats = {
  queue: QueueName;
  /** Not yet delivered, summed over the queue's consumers (num_pending). */
  pending: number;
  /** Delivered and not yet acked, summed (num_ack_pending). */
  inFlight: number;
  /** Age of the oldest message any of its consumers holds at `sampledAtMs`; 0 when none. */
  oldestPendingAgeMs: number;
  /** How many of its consumers exist: fewer than configured when a stage never started. */
  consumers: number;
};

export type QueueStatsSnapshot = {
  /** In the order of QUEUE_NAMES. */
  queues: QueueStats[];
  /** When the queue numbers were read: they are up to `cacheMs` old. */
  sampledAtMs: number;
  /** Delayed tasks waiting for their time, of every tenant (the scheduler keeps one set). */
  delayed: number;
  /** The tenant's stored dead letters. */
  deadLetters: number;
  /** How many of the tenant's dead letters the cap has dropped. */
  deadLettersDropped: number;
  deadLetterCap: number;
};

export type QueueStatsSettings = { cacheMs: number; deadLetterCap: number };

/** The gateway's settings for GetQueueStats (docs/configuration.md); the cap is the one the
 * deadletter stage applies, so both must be given the same TM_DEADLETTER_CAP. */
export function readQueueStatsSettings(reader: EnvReader): QueueStatsSettings {
  return {
    cacheMs: reader.int('TM_QUEUE_STATS_CACHE_MS', 1_000, { min: 0, max: 60_000 }),
    deadLetterCap: readDeadLetterCap(reader),
  };
}

/** Sums the holds of one queue's consumers (undefined: a consumer that does not exist). */
export function toQueueStats(queue: QueueName, holds: readonly (ConsumerHold | undefined)[], nowMs: number): QueueStats {
  const stats: QueueStats = { queue, pending: 0, inFlight: 0, oldestPendingAgeMs: 0, consumers: 0 };
  for (const hold of holds) {
    if (hold === undefined) continue;
    stats.consumers += 1;
    stats.pending += hold.pending;
    stats.inFlight += hold.inFlight;
    // nats-server's clock may run ahead of ours: an age is never negative.
    const age = hold.oldestPublishedMs === undefined ? 0 : Math.max(0, nowMs - hold.oldestPublishedMs);
    stats.oldestPendingAgeMs = Math.max(stats.oldestPendingAgeMs, age);
  }
  return stats;
}

type QueueSample = { queues: QueueStats[]; sampledAtMs: number };

async function sampleQueues(readHold: (consumer: ConsumerSpec) => Promise<ConsumerHold | undefined>, now: () => number): Promise<QueueSample> {
  const sampledAtMs = now();
  const holds = await Promise.all(QUEUES.map((queue) => Promise.all(queue.consumers.map(readHold))));
  return { queues: QUEUES.map((queue, index) => toQueueStats(queue.name, holds[index] ?? [], sampledAtMs)), sampledAtMs };
}

type RedisCounts = Pick<QueueStatsSnapshot, 'delayed' | 'deadLetters' | 'deadLettersDropped'>;

async function readRedisCounts(redis: Redis, tenant: string): Promise<RedisCounts> {
  // A claimed delayed task leaves the set for the leases until it is published (claimDue), so
  // the two together are every task still waiting.
  const replies = await redis
    .pipeline()
    .zcard(KEYS.delayedQueue)
    .zcard(KEYS.delayedLeases)
    .zcard(KEYS.deadLetters(tenant))
    .get(KEYS.deadLettersDropped(tenant))
    .exec();
  const values = (replies ?? []).map(([error, value]) => {
    if (error) throw error;
    return Number(value ?? 0);
  });
  const [queued = 0, leased = 0, deadLetters = 0, deadLettersDropped = 0] = values;
  return { delayed: queued + leased, deadLetters, deadLettersDropped };
}

export type QueueStatsDeps = {
  nc: NatsConnection;
  redis: Redis;
  now: () => number;
  /** How long the JetStream numbers are served before they are read again (0: every call). */
  cacheMs: number;
  deadLetterCap: number;
  /** Per JetStream request; 5 s by default. */
  timeoutMs?: number;
};

export type QueueStatsReader = {
  /** The stats as `tenant` sees them. DependencyUnavailableError when NATS or Redis fails. */
  read(tenant: string): Promise<QueueStatsSnapshot>;
  /** The JetStream part alone, of every tenant (the metrics' queue gauges), from the same cache. */
  queues(): Promise<QueueStats[]>;
};

export function createQueueStatsReader(deps: QueueStatsDeps): QueueStatsReader {
  const readHold = createConsumerHoldReader(deps.nc, deps.timeoutMs === undefined ? {} : { timeoutMs: deps.timeoutMs });
  const sample = createRefreshCache({ ttlMs: deps.cacheMs, now: deps.now, load: () => sampleQueues(readHold, deps.now) });
  return {
    async read(tenant) {
      const [queues, counts] = await Promise.all([
        sample(),
        guarded(() => `reading the queue stats of tenant ${tenant}`, () => readRedisCounts(deps.redis, tenant)),
      ]);
      // Copies: the cached sample is shared by every caller until it is refreshed.
      return { queues: queues.queues.map((stats) => ({ ...stats })), sampledAtMs: queues.sampledAtMs, ...counts, deadLetterCap: deps.deadLetterCap };
    },
    async queues() {
      return (await sample()).queues.map((stats) => ({ ...stats }));
    },
  };
}
