// The reconciler's reads and writes over Redis and JetStream (reconciler.ts holds the logic),
// and the lease that lets one sweep run at a time across scheduler replicas.
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { KEYS, type ConsumerSpec } from '../../shared/contract';
import { DependencyUnavailableError, describeError } from '../../shared/errors';
import { EVENT_IDS } from '../../shared/emit';
import type { NatsConnection } from '../../shared/nats';
import type { Redis } from '../../shared/redis';
import { readStatus } from '../../shared/status';
import { readTaskRecord } from '../../shared/task-record';
import type { ReconcilerDeps } from './reconciler';

type StoreDeps = Pick<
  ReconcilerDeps,
  'findStalled' | 'forget' | 'readStatus' | 'readTask' | 'readOutcome' | 'isDelayed' | 'hasLiveRun' | 'countRedrive'
>;

export function createReconcilerStore(redis: Redis, options: { redriveMemoryMs: number }): StoreDeps {
  return {
    findStalled: (beforeMs, limit) => redis.zrangebyscore(KEYS.activeTasks, '-inf', beforeMs, 'LIMIT', 0, limit),
    async forget(taskId) {
      await redis.zrem(KEYS.activeTasks, taskId);
    },
    readStatus: (taskId) => readStatus(redis, taskId),
    readTask: (taskId) => readTaskRecord(redis, taskId),
    async readOutcome(taskId) {
      const json = await redis.hget(KEYS.result(taskId), 'json');
      if (json === null) return undefined;
      const stored = JSON.parse(json) as { state?: unknown; attempts?: unknown; error?: unknown };
      const state = stored.state === 'SUCCEEDED' || stored.state === 'FAILED' || stored.state === 'CANCELLED' ? stored.state : undefined;
      return state && { state, attempts: Number(stored.attempts) || 1, error: typeof stored.error === 'string' ? stored.error : '' };
    },
    async isDelayed(taskId) {
      const [queued, leased] = await Promise.all([redis.zscore(KEYS.delayedQueue, taskId), redis.zscore(KEYS.delayedLeases, taskId)]);
      return queued !== null || leased !== null;
    },
    async hasLiveRun(taskId) {
      return (await redis.exists(KEYS.workerRun(EVENT_IDS.scheduled(taskId)))) === 1;
    },
    async countRedrive(taskId) {
      const [[error, count] = [null, 0]] = (await redis.multi().incr(KEYS.redrives(taskId)).pexpire(KEYS.redrives(taskId), options.redriveMemoryMs).exec()) ?? [];
      if (error) throw error;
      return Number(count);
    },
  };
}

type StoredMessageReply = { message?: { time?: string }; error?: { code?: number; description?: string } };

/**
 * When the oldest message `consumer` still holds was published: the first message after its ack
 * floor that matches its filter. Messages acked out of order after the floor make this older
 * than the truth, never newer, so the reconciler only ever waits longer because of it.
 */
export function createHeldReader(nc: NatsConnection): (consumer: ConsumerSpec) => Promise<number | undefined> {
  let manager: Promise<JetStreamManager> | undefined;
  return async (consumer) => {
    try {
      // No $JS.API.INFO round trip: the scheduler's NATS user may read only what it watches.
      manager ??= jetstreamManager(nc, { checkAPI: false });
      const jsm = await manager;
      const info = await jsm.consumers.info(consumer.stream, consumer.durable);
      if (info.num_pending === 0 && info.num_ack_pending === 0) return undefined;
      // nats.js types MSG.GET without next_by_subj, which nats-server (2.9 on) answers.
      const reply = await nc.request(
        `$JS.API.STREAM.MSG.GET.${consumer.stream}`,
        JSON.stringify({ seq: info.ack_floor.stream_seq + 1, next_by_subj: consumer.filterSubject }),
        { timeout: 5_000 },
      );
      const answer = reply.json<StoredMessageReply>();
      // 404 (no message found): acked and removed in between, so nothing older is held.
      if (answer.error) {
        if (answer.error.code === 404) return undefined;
        throw new Error(`${answer.error.code ?? ''} ${answer.error.description ?? 'unknown error'}`);
      }
      const time = answer.message?.time ? Date.parse(answer.message.time) : NaN;
      // Unreadable: assume it may hold anything (the reconciler waits, or forces later).
      return Number.isFinite(time) ? time : 0;
    } catch (error) {
      manager = undefined;
      throw new DependencyUnavailableError(`reading what ${consumer.durable} holds: ${describeError(error)}`, { cause: error });
    }
  };
}

// KEYS: lease. ARGV: token, ttl ms. Takes the lease when free, extends it when ours.
const HOLD_LEASE_LUA = `local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`;

/** True while this process holds the reconciler's lease (taken when free, extended when ours). */
export function createLease(redis: Redis, token: string, ttlMs: number): () => Promise<boolean> {
  return async () => (await redis.eval(HOLD_LEASE_LUA, 1, KEYS.reconcilerLease, token, String(ttlMs))) === 1;
}
