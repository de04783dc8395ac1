// Status ordering and the Redis reads/writes of a task's status. The notifier applies status
// events through `applyStatus`; the gateway uses it for QUEUED and CANCELLED. Ordering is by
// (phase, attempt, RUNNING < RETRYING, progress): a RUNNING of attempt 2 is newer than a
// RETRYING of attempt 1, and nothing is newer than a terminal state.
import { isTerminal, KEYS, type StatusUpdate, type StoredStatus, type TaskStateName } from './contract';
import { toChannel, type Redis } from './redis';

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

/** Returns the new sequence number, or 0 when the update was not newer and changed nothing. */
export async function applyStatus(redis: Redis, update: StatusUpdate): Promise<number> {
  const rank = toRank(update);
  return redis.applyStatus(
    KEYS.status(update.taskId),
    KEYS.history(update.taskId),
    KEYS.activeTasks,
    update.state,
    update.stage,
    update.attempt,
    update.message,
    update.progress,
    update.updatedAtMs,
    rank.phase,
    rank.sub,
    toChannel(redis, KEYS.statusChannel(update.taskId)),
    update.taskId,
  );
}

export function parseStoredStatus(taskId: string, json: string): StoredStatus {
  const entry = JSON.parse(json) as Omit<StoredStatus, 'taskId'>;
  return { ...entry, taskId };
}

export async function readStatus(redis: Redis, taskId: string): Promise<StoredStatus | undefined> {
  const hash = await redis.hgetall(KEYS.status(taskId));
  if (!hash.seq) return undefined;
  return {
    taskId,
    seq: Number(hash.seq),
    state: hash.state as TaskStateName,
    stage: hash.stage ?? '',
    attempt: Number(hash.attempt ?? 0),
    message: hash.message ?? '',
    progress: Number(hash.progress ?? 0),
    updatedAtMs: Number(hash.updated_at_ms ?? 0),
  };
}

/** History entries with seq > afterSeq, in order. Entries are stored in seq order. */
export async function readHistory(redis: Redis, taskId: string, afterSeq = 0): Promise<StoredStatus[]> {
  const start = Math.max(afterSeq, 0);
  const entries = await redis.lrange(KEYS.history(taskId), start, -1);
  return entries.map((json) => parseStoredStatus(taskId, json)).filter((entry) => entry.seq > afterSeq);
}
