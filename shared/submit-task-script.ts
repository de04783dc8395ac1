// The gateway's SubmitTask write in one Redis script: the idempotency key, the task hash and the
// task's first status (QUEUED), in one round trip instead of storing the task and then calling `applyStatus`.
// The status part is APPLY_STATUS_LUA (shared/redis.ts) for a task with no status yet, so that a
// fresh task's status hash, history entry, channel message and active-index entry are exactly
// what the notifier would have written (submit-task-script.int.test.ts compares the two).
import { KEYS, type TaskEnvelope } from './contract';
import { toChannel, type Redis } from './redis';
import { toRank } from './status';
import { toTaskFields } from './task-record';

/**
 * KEYS[1] idempotency key (pass the task key again when none), KEYS[2] task hash, KEYS[3] status
 * hash, KEYS[4] history list, KEYS[5] active-task index (sorted set), KEYS[6..8] the tenant's
 * ListTasks indexes: all its tasks, those of the task's type, those QUEUED (sorted sets)
 * ARGV taskId, idempotencyTtlSeconds, useIdempotency ('1'|'0'), state, stage, attempt, message,
 * progress, updatedAtMs, rankPhase, rankSub, channel (a channel, not a key: the caller prefixes
 * it, see toChannel), then the task hash's field/value pairs
 * Returns {taskId, created, seq}: for a known idempotency key {existingId, 0, 0} and nothing is
 * changed; otherwise {taskId, 1, seq} with seq 1 when the status was written, 0 when the task
 * already had one (never overwritten; a new id should never have one).
 */
export const SUBMIT_TASK_LUA = `
if ARGV[3] == '1' then
  local existing = redis.call('GET', KEYS[1])
  if existing then return { existing, 0, 0 } end
  redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
end
local fields = {}
for i = 13, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[2], unpack(fields))
if redis.call('HEXISTS', KEYS[3], 'seq') == 1 then return { ARGV[1], 1, 0 } end
local phase, attempt, sub, progress = tonumber(ARGV[10]), tonumber(ARGV[6]), tonumber(ARGV[11]), tonumber(ARGV[8])
local seq = 1
local terminal = '0'
if phase >= 9 then terminal = '1' end
redis.call('HSET', KEYS[3], 'seq', seq, 'state', ARGV[4], 'stage', ARGV[5], 'attempt', attempt,
  'message', ARGV[7], 'progress', progress, 'updated_at_ms', ARGV[9], 'rank_phase', phase,
  'rank_sub', sub, 'terminal', terminal)
local entry = cjson.encode({ seq = seq, state = ARGV[4], stage = ARGV[5], attempt = attempt,
  message = ARGV[7], progress = progress, updatedAtMs = tonumber(ARGV[9]) })
redis.call('RPUSH', KEYS[4], entry)
redis.call('PUBLISH', ARGV[12], entry)
if terminal == '1' then
  redis.call('ZREM', KEYS[5], ARGV[1])
else
  redis.call('ZADD', KEYS[5], ARGV[9], ARGV[1])
end
for i = 6, 8 do redis.call('ZADD', KEYS[i], ARGV[9], ARGV[1]) end
return { ARGV[1], 1, seq }
`;

declare module './redis-client' {
  interface RedisClient {
    submitTask(
      idempotencyKey: string,
      taskKey: string,
      statusKey: string,
      historyKey: string,
      activeIndexKey: string,
      allTasksIndexKey: string,
      typeIndexKey: string,
      stateIndexKey: string,
      ...args: (string | number)[]
    ): Promise<[string, number, number]>;
  }
}

/** Registers the script on a client (called by defineScripts, shared/redis.ts). */
export function defineSubmitTaskScript(redis: Redis): void {
  redis.defineCommand('submitTask', { numberOfKeys: 8, lua: SUBMIT_TASK_LUA });
}

export type NewTaskInput = {
  /** The task as stored; its createdAtMs is the QUEUED status's updatedAtMs. */
  envelope: TaskEnvelope;
  /** The client's key (scoped to envelope.tenant); undefined for none. */
  idempotencyKey: string | undefined;
  idempotencyTtlSeconds: number;
  /** Who writes the QUEUED status (the gateway). */
  stage: string;
};

export type NewTaskOutcome = {
  /** The new task's id, or the existing task's for a known idempotency key. */
  taskId: string;
  /** False for a known idempotency key: nothing was written. */
  created: boolean;
  /** 1 when the QUEUED status was written; 0 when nothing was (a duplicate, or a status that
   * was already there). */
  seq: number;
};

/** Stores a new task with its QUEUED status, unless its idempotency key is known. */
export async function storeNewTask(redis: Redis, input: NewTaskInput): Promise<NewTaskOutcome> {
  const { envelope, idempotencyKey } = input;
  const taskId = envelope.taskId;
  const rank = toRank({ state: 'QUEUED' });
  const [storedId, created, seq] = await redis.submitTask(
    idempotencyKey === undefined ? KEYS.task(taskId) : KEYS.idempotency(envelope.tenant, idempotencyKey),
    KEYS.task(taskId),
    KEYS.status(taskId),
    KEYS.history(taskId),
    KEYS.activeTasks,
    KEYS.tasksByTime(envelope.tenant),
    KEYS.tasksByType(envelope.tenant, envelope.type),
    KEYS.tasksByState(envelope.tenant, 'QUEUED'),
    taskId,
    input.idempotencyTtlSeconds,
    idempotencyKey === undefined ? '0' : '1',
    'QUEUED',
    input.stage,
    0,
    '',
    0,
    envelope.createdAtMs,
    rank.phase,
    rank.sub,
    toChannel(redis, KEYS.statusChannel(taskId)),
    ...toTaskFields(envelope),
  );
  return { taskId: storedId, created: created === 1, seq };
}
