// The order of statuses, pure: by (phase, attempt, RUNNING < RETRYING, progress), so a RUNNING
// of attempt 2 is newer than a RETRYING of attempt 1, and nothing is newer than a terminal state.
// The applyStatus Lua script (shared/redis.ts) applies the same rule in Redis.
import { isTerminal, type StatusUpdate, type TaskStateName } from './contract';

const PHASES: Record<TaskStateName, number> = {
  QUEUED: 1,
  VALIDATED: 2,
  ENRICHED: 3,
  SCHEDULED: 4,
  RUNNING: 5,
  RETRYING: 5,
  SUCCEEDED: 9,
  FAILED: 9,
  CANCELLED: 9,
  REJECTED: 9,
};

export function toRank(update: Pick<StatusUpdate, 'state'>): { phase: number; sub: number } {
  return { phase: PHASES[update.state], sub: update.state === 'RETRYING' ? 1 : 0 };
}

/** Pure twin of the Lua comparison, for unit tests and in-process checks. */
export function isNewer(next: StatusUpdate, current: StatusUpdate | undefined): boolean {
  if (!current) return true;
  if (isTerminal(current.state)) return false;
  const a = toRank(next);
  const b = toRank(current);
  const left = [a.phase, next.attempt, a.sub, next.progress];
  const right = [b.phase, current.attempt, b.sub, current.progress];
  for (let i = 0; i < left.length; i += 1) {
    if (left[i]! !== right[i]!) return left[i]! > right[i]!;
  }
  return false;
}

