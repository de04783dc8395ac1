// Redis connection and the Lua scripts for every write that must be atomic. Each script opens
// with a header listing its KEYS, ARGV and return value.
//
// Every client carries the key prefix (TM_REDIS_PREFIX) as its `keyPrefix`, which prefixes
// the keys of each command, of MULTI and pipelines, and the KEYS of scripts. It does not touch
// pub/sub channels (name them with `toChannel`), KEYS/SCAN patterns, or keys a script would
// build from ARGV: so scripts take every key they touch in KEYS
// (docs/decisions/0011-redis-key-prefix.md).
import { RedisClient, type RedisClientOptions } from './redis-client';
import type { RedisSettings } from './config';
import { ConfigError, DependencyUnavailableError, describeError } from './errors';
import type { Logger } from './logger';
import { toRedactedUrl, type Secret } from './secret';
import { defineSubmitTaskScript } from './submit-task-script';
import { readTlsFile, type ReadFile } from './tls-files';

/** The client every component uses (redis-client.ts), with this project's scripts as methods. */
export type Redis = RedisClient;

export type RedisOptions = {
  /** Without credentials (readRedisSettings strips them); redis:// or rediss:// (TLS). */
  url: string;
  username?: string | undefined;
  password?: Secret | undefined;
  tls?: RedisSettings['tls'];
  /** Prepended to every key (RedisSettings.keyPrefix). */
  keyPrefix: string;
  name: string;
  logger: Logger;
};

/** The credentials and TLS part of the client's options (pure but for reading the CA file). */
export function toRedisAuthOptions(
  options: Pick<RedisOptions, 'username' | 'password' | 'tls'>,
  read?: ReadFile,
): Pick<RedisClientOptions, 'username' | 'password' | 'tls'> {
  return {
    ...(options.username ? { username: options.username } : {}),
    ...(options.password ? { password: options.password.reveal() } : {}),
    ...(options.tls?.ca ? { tls: { ca: readTlsFile(options.tls.ca, read) } } : {}),
  };
}

/** Redis answers these when the credentials are wrong or missing: retrying will not help. */
const AUTH_REPLY = /^(WRONGPASS|NOAUTH|NOPERM)\b|invalid username-password|AUTH <password> called without any password/;

/**
 * Commands fail fast while Redis is unreachable (no offline queue), so callers can answer
 * UNAVAILABLE or let the source retry, instead of hanging; the client reconnects on its own.
 */
export async function connectRedis(options: RedisOptions): Promise<Redis> {
  const redis = new RedisClient(options.url, {
    connectionName: options.name,
    keyPrefix: options.keyPrefix,
    lazyConnect: true,
    enableOfflineQueue: false,
    retryStrategy: (times) => Math.min(50 * times, 1_000),
    ...toRedisAuthOptions(options),
  });
  let lastError = '';
  // A refused AUTH is reported as an 'error' event too.
  let authFailure: string | undefined;
  redis.on('error', (error: Error) => {
    if (error.message !== lastError) options.logger.warn({ err: error.message }, 'redis connection error');
    lastError = error.message;
    if (AUTH_REPLY.test(error.message)) authFailure = error.message;
  });
  redis.on('ready', () => {
    lastError = '';
  });
  await connectWithRetry(redis, options, () => authFailure);
  defineScripts(redis);
  return redis;
}

async function connectWithRetry(redis: Redis, options: RedisOptions, authFailure: () => string | undefined): Promise<void> {
  const deadline = Date.now() + 30_000;
  // Never print a password that was left in the URL.
  const where = toRedactedUrl(options.url);
  for (;;) {
    try {
      await redis.connect();
      return;
    } catch (error) {
      const refusal = AUTH_REPLY.test(describeError(error)) ? describeError(error) : authFailure();
      if (refusal !== undefined) {
        redis.disconnect();
        const who = options.username ? `user "${options.username}"` : options.password ? 'the default user' : 'no credentials';
        throw new ConfigError([`redis at ${where} refused ${who} (REDIS_URL or REDIS_USERNAME/REDIS_PASSWORD): ${refusal}`]);
      }
      if (Date.now() > deadline) {
        throw new DependencyUnavailableError(`redis at ${where} is unreachable: ${describeError(error)}`);
      }
      redis.disconnect();
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/**
 * The pub/sub channel `name` (a KEYS channel) under the client's key prefix. The client prefixes
 * keys only: PUBLISH, SUBSCRIBE and PUBSUB take channels, which it sends as they are.
 */
export function toChannel(redis: { readonly options: { readonly keyPrefix?: string | undefined } }, name: string): string {
  return `${redis.options.keyPrefix ?? ''}${name}`;
}

/** A second connection in subscriber mode (RESP2 cannot mix pub/sub and commands); it keeps the
 * key prefix, so `toChannel` names the same channels on both. */
export function duplicateForSubscribe(redis: Redis): Redis {
  const subscriber = redis.duplicate({ enableOfflineQueue: true, lazyConnect: false });
  subscriber.on('error', () => undefined);
  return subscriber;
}

export function toUnavailable(error: unknown, what: string): DependencyUnavailableError {
  return new DependencyUnavailableError(`redis unavailable while ${what}: ${describeError(error)}`, { cause: error });
}

/**
 * KEYS[1] status hash, KEYS[2] history list, KEYS[3] active-task index (sorted set), KEYS[4] task
 * hash, KEYS[5] the expiring-task index (sorted set), KEYS[6] the task's audit trail
 * ARGV channel (a channel, not a key: the caller prefixes it, see toChannel), taskId, stage, the
 * prefixed base of the state indexes (`<prefix>tasks:`), retentionSeconds, then per transition,
 * in order: state, attempt, message, progress, updatedAtMs, rankPhase, rankSub
 * Applies each transition that is newer than the status it finds (older, duplicate, or after a
 * terminal state: skipped), so status never moves backwards: bumps seq, appends the entry to the
 * history and PUBLISHes it. Returns the last new sequence number, or 0 when nothing was newer.
 * The index holds every task that is not terminal, scored by its last status change, so that
 * the reconciler finds stalled tasks without scanning (functions/scheduler/reconciler.ts). The
 * task moves from the state index of the state it left to that of the state it reached
 * (ListTasks; the keys are built here from the task's tenant, so the move is in the same call).
 * A terminal state starts the retention: the task, status, history and audit keys expire after
 * retentionSeconds, and the task is entered in the expiring index for the sweep that takes it
 * out of the ListTasks indexes (shared/task-retention.ts).
 */
export const APPLY_STATUS_LUA = `
local cur = redis.call('HMGET', KEYS[1], 'seq', 'terminal', 'rank_phase', 'attempt', 'rank_sub', 'progress', 'state')
if cur[2] == '1' then return 0 end
local seq = tonumber(cur[1]) or 0
local cp, ca, cs, cpr = tonumber(cur[3]), tonumber(cur[4]), tonumber(cur[5]), tonumber(cur[6])
local before, after = cur[7], nil
local applied, terminal, at = 0, '0', nil
for i = 6, #ARGV, 7 do
  local state, attempt, message = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local progress, updated, phase, sub = tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4]), tonumber(ARGV[i + 5]), tonumber(ARGV[i + 6])
  local newer = seq == 0 or phase > cp
    or (phase == cp and attempt > ca)
    or (phase == cp and attempt == ca and sub > cs)
    or (phase == cp and attempt == ca and sub == cs and progress > cpr)
  if terminal == '0' and newer then
    seq = seq + 1
    if phase >= 9 then terminal = '1' end
    redis.call('HSET', KEYS[1], 'seq', seq, 'state', state, 'stage', ARGV[3], 'attempt', attempt,
      'message', message, 'progress', progress, 'updated_at_ms', updated, 'rank_phase', phase,
      'rank_sub', sub, 'terminal', terminal)
    local entry = cjson.encode({ seq = seq, state = state, stage = ARGV[3], attempt = attempt,
      message = message, progress = progress, updatedAtMs = updated })
    redis.call('RPUSH', KEYS[2], entry)
    redis.call('PUBLISH', ARGV[1], entry)
    cp, ca, cs, cpr, applied, at, after = phase, attempt, sub, progress, seq, updated, state
  end
end
if applied == 0 then return 0 end
local task = redis.call('HMGET', KEYS[4], 'tenant', 'created_at_ms', 'type')
if after ~= before and task[1] and task[2] then
  local base = ARGV[4] .. task[1] .. ':state:'
  if before then redis.call('ZREM', base .. before, ARGV[2]) end
  redis.call('ZADD', base .. after, tonumber(task[2]), ARGV[2])
end
if terminal == '1' then
  local keep = tonumber(ARGV[5])
  redis.call('EXPIRE', KEYS[1], keep)
  redis.call('EXPIRE', KEYS[2], keep)
  redis.call('EXPIRE', KEYS[6], keep)
  if task[1] then
    redis.call('EXPIRE', KEYS[4], keep)
    redis.call('ZADD', KEYS[5], at + keep * 1000, task[1] .. '\t' .. (task[3] or '') .. '\t' .. after .. '\t' .. ARGV[2])
  end
end
if terminal == '1' then
  redis.call('ZREM', KEYS[3], ARGV[2])
else
  redis.call('ZADD', KEYS[3], at, ARGV[2])
end
return applied
`;

/**
 * KEYS[1] result key
 * ARGV resultJson, attempt, ttlSeconds
 * Stores the result unless one from a later attempt is already stored, so a late result from an
 * attempt that was given up on never overwrites a newer outcome. The same attempt again (a
 * redelivered event) is stored again, so the caller goes on to report the status.
 * Returns 1 when stored, 0 when a newer result was already there.
 */
export const STORE_RESULT_LUA = `
local current = redis.call('HGET', KEYS[1], 'attempt')
if current and tonumber(current) > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'json', ARGV[1], 'attempt', ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
`;

/**
 * KEYS[1] dedupe marker, KEYS[2] the global audit list, KEYS[3] the task's audit trail (sorted
 * set), KEYS[4] the task hash
 * ARGV entry, cap of the global list (0 = uncapped), markerTtlSeconds, record id, atMs,
 * retentionSeconds, cap of one task's trail
 * Appends a record once per id: to the global list (newest first, capped) and to its task's
 * trail, scored by its time, the member `<record id>\t<entry>` (ListAuditEvents,
 * shared/task-audit.ts). The trail expires with its task: a record that comes after the task
 * finished takes the task's remaining time to live (the status script expires the trail when
 * the task finishes), and one whose task is already gone keeps the retention.
 * Returns 1 when appended, 0 for a repeat.
 */
export const APPEND_AUDIT_LUA = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[3])) then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[1])
local cap = tonumber(ARGV[2])
if cap > 0 then redis.call('LTRIM', KEYS[2], 0, cap - 1) end
redis.call('ZADD', KEYS[3], tonumber(ARGV[5]), ARGV[4] .. '\t' .. ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -tonumber(ARGV[7]) - 1)
local ttl = redis.call('PTTL', KEYS[4])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[3], ttl)
elseif ttl == -2 then
  redis.call('EXPIRE', KEYS[3], tonumber(ARGV[6]))
end
return 1
`;

/**
 * KEYS[1] delayed sorted set (score = due time), KEYS[2] leases sorted set (score = lease end)
 * ARGV nowMs, leaseMs, limit
 * Claims due tasks and tasks whose lease expired (a promoter died mid-way), leasing each to the
 * caller until now+lease. Returns the claimed task ids.
 */
export const CLAIM_DUE_LUA = `
local now, lease, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local claimed = {}
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, limit)
for _, id in ipairs(expired) do
  redis.call('ZADD', KEYS[2], now + lease, id)
  claimed[#claimed + 1] = id
end
if #claimed < limit then
  local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit - #claimed)
  for _, id in ipairs(due) do
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZADD', KEYS[2], now + lease, id)
    claimed[#claimed + 1] = id
  end
end
return claimed
`;

/**
 * KEYS[1] the expiring-task index
 * ARGV nowMs, limit, the prefixed base of the ListTasks indexes (`<prefix>tasks:`)
 * Takes up to `limit` due tasks out of their indexes (all, type, state) and out of KEYS[1].
 * Returns how many it took out. Repeatable: ZREM of what is gone changes nothing.
 */
export const SWEEP_EXPIRED_LUA = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  local tenant, kind, state, id = string.match(member, '^([^\\t]*)\\t([^\\t]*)\\t([^\\t]*)\\t(.*)$')
  if id then
    local base = ARGV[3] .. tenant .. ':'
    redis.call('ZREM', base .. 'all', id)
    redis.call('ZREM', base .. 'type:' .. kind, id)
    redis.call('ZREM', base .. 'state:' .. state, id)
  end
  redis.call('ZREM', KEYS[1], member)
end
return #due
`;

/**
 * KEYS[1] dedupe marker, KEYS[2] the global dead-letter list, KEYS[3] the task hash, KEYS[4] the
 * dead letter's record hash
 * ARGV entryJson, markerTtlSeconds, id, atMs, cap (0 = none), the prefixed bases of the tenant
 * index and of the dropped counter and of the record keys, the global list's cap, then the
 * record's field/value pairs
 * Stores a dead letter once per id: in the global list (newest first, capped) and, under the task's tenant
 * (from the task hash; `default` when there is none), as a record with the task's type and an
 * entry of the tenant's index scored by time. Over the cap, the oldest entries and their records
 * go, and the tenant's dropped counter grows by as many. Returns 1 when stored, 0 for a repeat.
 */
export const STORE_DEAD_LETTER_LUA = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[2])) then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[9]) - 1)
local task = redis.call('HMGET', KEYS[3], 'tenant', 'type')
local tenant, kind = task[1] or 'default', task[2] or ''
local fields = { 'tenant', tenant, 'type', kind }
for i = 10, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[4], unpack(fields))
local index = ARGV[6] .. tenant
redis.call('ZADD', index, tonumber(ARGV[4]), ARGV[3])
local cap = tonumber(ARGV[5])
if cap > 0 then
  local over = redis.call('ZCARD', index) - cap
  if over > 0 then
    local dropped = redis.call('ZPOPMIN', index, over)
    for i = 1, #dropped, 2 do redis.call('DEL', ARGV[8] .. dropped[i]) end
    redis.call('INCRBY', ARGV[7] .. tenant, over)
  end
end
return 1
`;

/**
 * KEYS[1] dead-letter record hash
 * ARGV the replay task id
 * Remembers the task a dead letter's replay made, unless one is remembered already (the first
 * replay wins, so concurrent replays agree). Returns the task id that stands ('' when the record
 * is gone: dropped by the cap or purged).
 */
export const MARK_REPLAYED_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return '' end
local current = redis.call('HGET', KEYS[1], 'replayed_as')
if current and current ~= '' then return current end
redis.call('HSET', KEYS[1], 'replayed_as', ARGV[1])
return ARGV[1]
`;

/** The scripts, as the methods defineScripts gives every client. */
declare module './redis-client' {
  interface RedisClient {
    applyStatus(
      statusKey: string,
      historyKey: string,
      activeIndexKey: string,
      taskKey: string,
      expiringIndexKey: string,
      auditTrailKey: string,
      ...args: (string | number)[]
    ): Promise<number>;
    storeResult(resultKey: string, json: string, attempt: number, ttlSeconds: number): Promise<number>;
    appendAudit(marker: string, list: string, trail: string, taskKey: string, ...args: (string | number)[]): Promise<number>;
    claimDue(queue: string, leases: string, nowMs: number, leaseMs: number, limit: number): Promise<string[]>;
    sweepExpired(expiringIndexKey: string, nowMs: number, limit: number, indexBase: string): Promise<number>;
    storeDeadLetter(marker: string, list: string, taskKey: string, recordKey: string, ...args: (string | number)[]): Promise<number>;
    markReplayed(recordKey: string, taskId: string): Promise<string>;
  }
}

export function defineScripts(redis: Redis): void {
  redis.defineCommand('applyStatus', { numberOfKeys: 6, lua: APPLY_STATUS_LUA });
  redis.defineCommand('storeResult', { numberOfKeys: 1, lua: STORE_RESULT_LUA });
  redis.defineCommand('appendAudit', { numberOfKeys: 4, lua: APPEND_AUDIT_LUA });
  redis.defineCommand('claimDue', { numberOfKeys: 2, lua: CLAIM_DUE_LUA });
  redis.defineCommand('sweepExpired', { numberOfKeys: 1, lua: SWEEP_EXPIRED_LUA });
  redis.defineCommand('storeDeadLetter', { numberOfKeys: 4, lua: STORE_DEAD_LETTER_LUA });
  redis.defineCommand('markReplayed', { numberOfKeys: 1, lua: MARK_REPLAYED_LUA });
  defineSubmitTaskScript(redis);
}
