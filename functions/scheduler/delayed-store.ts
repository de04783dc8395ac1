// Delayed tasks in Redis: `delayed_tasks` (sorted set, score = due time), `delayed_task:<id>`
// (the `scheduled` event to publish, as JSON) and `delayed_tasks:leases` (ids a promoter has
// claimed, score = lease end). The claim itself is the `claimDue` Lua script of shared/redis.ts,
// so two promoters never claim the same id while its lease runs.
import { KEYS } from '../../shared/contract';
import type { DelayedStore } from '../../shared/ports';
import type { Redis } from '../../shared/redis';
import { guarded } from '../../shared/redis-stores';

type Pipeline = ReturnType<Redis['multi']>;

/** EXEC resolves even when a command inside failed; surface that as an error. */
async function execAll(pipeline: Pipeline): Promise<void> {
  const results = await pipeline.exec();
  if (results === null) throw new Error('redis transaction was aborted');
  const failed = results.find(([error]) => error);
  if (failed) throw failed[0];
}

export type { DelayedStore };

export function createDelayedStore(redis: Redis): DelayedStore {
  return {
    add: (taskId, dueAtMs, eventJson) =>
      // The event first in the same transaction: a queued id always has its event to publish.
      guarded(() => `storing delayed task ${taskId}`, () =>
        execAll(redis.multi().set(KEYS.delayedEvent(taskId), eventJson).zadd(KEYS.delayedQueue, dueAtMs, taskId)),
      ),
    async claimDue(nowMs, leaseMs, limit) {
      return redis.claimDue(KEYS.delayedQueue, KEYS.delayedLeases, nowMs, leaseMs, limit);
    },
    async load(taskId) {
      return redis.get(KEYS.delayedEvent(taskId));
    },
    async complete(taskId) {
      await execAll(redis.multi().zrem(KEYS.delayedLeases, taskId).del(KEYS.delayedEvent(taskId)));
    },
    async release(taskId) {
      await redis.zadd(KEYS.delayedLeases, 'XX', 0, taskId);
    },
  };
}
