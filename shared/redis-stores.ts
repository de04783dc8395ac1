// The Redis side of the ports of shared/ports.ts: the status store, the record logs (audit,
// dead letters) and the result store. Each call that fails for a reason other than our own typed
// errors is a DependencyUnavailableError naming what it was doing, so the source retries it.
import { KEYS } from './contract';
import { isTaskmanagerError } from './errors';
import type { RecordLog, ResultStore, StatusStore } from './ports';
import { toUnavailable, type Redis } from './redis';
import { applyTransitions, readStatus } from './status';

/** Runs a Redis call; a client failure becomes a DependencyUnavailableError saying `what`. */
export async function guarded<T>(what: () => string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (isTaskmanagerError(error)) throw error;
    throw toUnavailable(error, what());
  }
}

export function createStatusStore(redis: Redis): StatusStore {
  return {
    read: (taskId) => guarded(() => `reading the status of ${taskId}`, () => readStatus(redis, taskId)),
    apply: (taskId, stage, transitions) =>
      guarded(() => `applying ${transitions.map((next) => next.state).join(', ')} to task ${taskId}`, () =>
        applyTransitions(redis, taskId, stage, transitions),
      ),
  };
}

export type RecordLogOptions = {
  /** The list (KEYS.auditEvents, KEYS.deadLetter). */
  list: string;
  /** The dedupe marker of a record id. */
  marker: (id: string) => string;
  /** Entries kept (older ones trimmed); 0 keeps every entry. */
  cap: number;
  /** How long a record id is remembered; longer than an event can stay in its stream. */
  markerTtlSeconds: number;
  /** What a record is, for error messages ("audit record"). */
  noun: string;
};

/** A list that takes each record id once: the pushOnce Lua script (shared/redis.ts). */
export function createRecordLog(redis: Redis, options: RecordLogOptions): RecordLog {
  return {
    appendOnce: (id, entry) =>
      guarded(
        () => `appending ${options.noun} ${id}`,
        async () => (await redis.pushOnce(options.marker(id), options.list, JSON.stringify(entry), options.cap, options.markerTtlSeconds)) === 1,
      ),
  };
}

/** Results with a TTL, compare-and-set on the attempt (the storeResult Lua script). */
export function createResultStore(redis: Redis, ttlSeconds: number): ResultStore {
  return {
    store: (taskId, attempt, json) =>
      guarded(() => `storing the result of ${taskId}`, async () => (await redis.storeResult(KEYS.result(taskId), json, attempt, ttlSeconds)) === 1),
  };
}
