// The reconciler's reads and writes over Redis (reconciler.ts holds the logic; what JetStream
// still holds is read by shared/consumer-holds.ts), and the lease that lets one sweep run at a
// time across scheduler replicas.
import { KEYS } from '../../shared/contract';
import { EVENT_IDS } from '../../shared/emit';
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
