// The retention sweep: a finished task's records expire by themselves (the status script sets
// their TTL, TM_RETENTION_SECONDS), but the ListTasks indexes are sorted sets, whose members
// cannot expire one by one. The status script enters each finished task in `tasks_expiring`,
// scored by its expiry; the sweep takes the due ones out of their tenant's indexes. A listing
// never shows an expired task even before the sweep (its record is gone, task-listing.ts). The
// script is SWEEP_EXPIRED_LUA (shared/redis.ts).
import { KEYS } from './contract';
import { toChannel, type Redis } from './redis';

export type RetentionSweeper = { sweep(): Promise<number> };

/** Sweeps what is due, `batch` at a time, until nothing is. */
export function createRetentionSweeper(redis: Redis, options: { now: () => number; batch?: number }): RetentionSweeper {
  const batch = options.batch ?? 500;
  return {
    async sweep() {
      let total = 0;
      for (;;) {
        const taken = await redis.sweepExpired(KEYS.tasksExpiring, options.now(), batch, toChannel(redis, KEYS.tasksIndexBase));
        total += taken;
        if (taken < batch) return total;
      }
    },
  };
}
