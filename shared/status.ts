// The Redis reads and writes of a task's status. The notifier applies stage steps through
// `applyTransitions`; the gateway uses `applyStatus` for CANCELLED. The order of statuses is
// status-rank.ts.
import { DEFAULT_RETENTION_SECONDS, KEYS, type StatusTransition, type StatusUpdate, type StoredStatus, type TaskStateName } from './contract';
import { toRank } from './status-rank';
import { toChannel, type Redis } from './redis';

export { isNewer, toRank } from './status-rank';

/**
 * Applies a stage step's transitions, in order, in one call: each one that is newer than the
 * status it finds. Returns the last new sequence number, or 0 when none was newer.
 */
export async function applyTransitions(
  redis: Redis,
  taskId: string,
  stage: string,
  transitions: readonly StatusTransition[],
  retentionSeconds = DEFAULT_RETENTION_SECONDS,
): Promise<number> {
  const args: (string | number)[] = [toChannel(redis, KEYS.statusChannel(taskId)), taskId, stage, toChannel(redis, KEYS.tasksIndexBase), retentionSeconds];
  for (const next of transitions) {
    const rank = toRank(next);
    args.push(next.state, next.attempt, next.message, next.progress, next.updatedAtMs, rank.phase, rank.sub);
  }
  return redis.applyStatus(KEYS.status(taskId), KEYS.history(taskId), KEYS.activeTasks, KEYS.task(taskId), KEYS.tasksExpiring, KEYS.taskAudit(taskId), ...args);
}

/** Returns the new sequence number, or 0 when the update was not newer and changed nothing. */
export function applyStatus(redis: Redis, update: StatusUpdate, retentionSeconds?: number): Promise<number> {
  return applyTransitions(redis, update.taskId, update.stage, [update], retentionSeconds);
}

export function parseStoredStatus(taskId: string, json: string): StoredStatus {
  const entry = JSON.parse(json) as Omit<StoredStatus, 'taskId'>;
  return { ...entry, taskId };
}

export async function readStatus(redis: Redis, taskId: string): Promise<StoredStatus | undefined> {
  return toStoredStatus(taskId, await redis.hgetall(KEYS.status(taskId)));
}

/** A status hash as read back (undefined for an empty one: no status yet). */
export function toStoredStatus(taskId: string, hash: Record<string, string>): StoredStatus | undefined {
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
