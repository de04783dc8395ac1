// The Redis side of the ports of shared/ports.ts: the status store, the record logs (audit,
// dead letters) and the result store. Each call that fails for a reason other than our own typed
// errors is a DependencyUnavailableError naming what it was doing, so the source retries it.
import { KEYS } from './contract';
import { isTaskmanagerError } from './errors';
import type { CancelNotices, ResultReader, ResultStore, StatusStore, TaskStore } from './ports';
import { toChannel, toUnavailable, type Redis } from './redis';
import { applyTransitions, readHistory, readStatus } from './status';
import { storeNewTask } from './submit-task-script';

/** Runs a Redis call; a client failure becomes a DependencyUnavailableError saying `what`. */
export async function guarded<T>(what: () => string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (isTaskmanagerError(error)) throw error;
    throw toUnavailable(error, what());
  }
}

/** `retentionSeconds`: how long a task is kept once it reaches a terminal state (TM_RETENTION_SECONDS). */
export function createStatusStore(redis: Redis, options: { retentionSeconds?: number } = {}): StatusStore {
  return {
    read: (taskId) => guarded(() => `reading the status of ${taskId}`, () => readStatus(redis, taskId)),
    apply: (taskId, stage, transitions) =>
      guarded(() => `applying ${transitions.map((next) => next.state).join(', ')} to task ${taskId}`, () =>
        applyTransitions(redis, taskId, stage, transitions, options.retentionSeconds),
      ),
    history: (taskId, afterSeq) => guarded(() => `reading the history of ${taskId}`, () => readHistory(redis, taskId, afterSeq)),
  };
}

export function createTaskStore(redis: Redis): TaskStore {
  return {
    create: (input) => guarded(() => `storing task ${input.envelope.taskId}`, () => storeNewTask(redis, input)),
    read: (taskId) => guarded(() => `reading task ${taskId}`, () => redis.hgetall(KEYS.task(taskId))),
    readOwner: (taskId) =>
      guarded(
        () => `reading the owner of task ${taskId}`,
        async () => {
          const [id, tenant] = await redis.hmget(KEYS.task(taskId), 'task_id', 'tenant');
          return { taskId: id ?? null, tenant: tenant ?? null };
        },
      ),
    markPublished: (taskId, atMs) =>
      guarded(
        () => `marking task ${taskId} as published`,
        async () => {
          await redis.hset(KEYS.task(taskId), 'published_at_ms', String(atMs));
        },
      ),
    remove: (taskId, tenant, idempotencyKey) =>
      guarded(
        () => `removing task ${taskId}`,
        async () => {
          const keys = [KEYS.task(taskId), KEYS.status(taskId), KEYS.history(taskId)];
          if (idempotencyKey !== undefined) keys.push(KEYS.idempotency(tenant, idempotencyKey));
          const type = await redis.hget(KEYS.task(taskId), 'type');
          const indexes = [KEYS.activeTasks, KEYS.tasksByTime(tenant), KEYS.tasksByState(tenant, 'QUEUED'), ...(type ? [KEYS.tasksByType(tenant, type)] : [])];
          await Promise.all([redis.del(...keys), ...indexes.map((index) => redis.zrem(index, taskId))]);
        },
      ),
  };
}

export function createCancelNotices(redis: Redis): CancelNotices {
  return {
    announce: (taskId) =>
      guarded(
        () => `announcing the cancel of ${taskId}`,
        async () => {
          await redis.publish(toChannel(redis, KEYS.cancelChannel), taskId);
        },
      ),
  };
}

export function createResultReader(redis: Redis): ResultReader {
  return {
    read: (taskId) => guarded(() => `reading the result of ${taskId}`, async () => (await redis.hget(KEYS.result(taskId), 'json')) ?? undefined),
  };
}

/** Results with a TTL, compare-and-set on the attempt (the storeResult Lua script). */
export function createResultStore(redis: Redis, ttlSeconds: number): ResultStore {
  return {
    store: (taskId, attempt, json) =>
      guarded(() => `storing the result of ${taskId}`, async () => (await redis.storeResult(KEYS.result(taskId), json, attempt, ttlSeconds)) === 1),
  };
}
