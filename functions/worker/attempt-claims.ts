// Which delivery of a `scheduled` event runs, and as which attempt, over Redis. Three keys per
// event (`processed:worker:<event id>:…`):
// - `run` = `running:<attempt>:<token>`: a live run holds the task, with a lease (AckWait, at most
//   10 s: toRunLeaseMs) it renews every third of it while it runs. One run at a time;
// - `<attempt>` = `retrying`: that attempt failed with attempts left (RETRYING was published);
// - `ended` = the attempt whose final `finished` (succeeded, failed, cancelled) is out. No run
//   starts after it, whatever the delivery's count: the result-store makes the status terminal
//   from that `finished`, even if it is slow to.
// Outcomes are kept as long as a copy of the event can still be in the stream (MaxAge).
//
// Why a lease and not a "taken for good" marker: JetStream's delivery count is not a reliable
// attempt number after a source crash. When a source dies holding a message, the redelivery can
// carry the count it already had (seen with nats-server 2.9). With a marker per attempt that
// redelivery was acked as a duplicate of the run that died with it, and the task stayed RUNNING
// for ever. With a lease, the dead run's hold lapses and the redelivery runs the task.
import { KEYS } from '../../shared/contract';
import type { AttemptClaims, AttemptOutcome, ClaimState } from '../../shared/ports';
import type { Redis } from '../../shared/redis';
import { guarded } from '../../shared/redis-stores';

export type { AttemptClaims, AttemptOutcome, ClaimState };

/** Longest hold without renewal: how soon a redelivery can run a task whose worker died. */
export const MAX_RUN_LEASE_MS = 10_000;

/**
 * A run's lease: AckWait, but at most 10 s. A source still holding the delivery of a dead run
 * retries it on the contract's schedule (1 s first), and that retry waits for the lease to lapse;
 * 30 s (the default AckWait) would add that much to every recovery from a worker crash. A live
 * run renews every third of it, so only an event loop stalled for the whole lease loses the task.
 */
export function toRunLeaseMs(ackWaitMs: number): number {
  return Math.min(ackWaitMs, MAX_RUN_LEASE_MS);
}

// KEYS: run, attempt, ended. ARGV: holder value, lease ms.
const TAKE_LUA = `if redis.call('EXISTS', KEYS[3]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 1 end
return 0`;
const RENEW_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const RELEASE_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
// KEYS: run, outcome (the attempt's key or `ended`). ARGV: outcome value, keep ms, holder value.
// Records the outcome, then ends the hold if this run still has it: one call, not a transaction.
const SETTLE_LUA = `redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
if redis.call('GET', KEYS[1]) == ARGV[3] then redis.call('DEL', KEYS[1]) end
return 1`;

/** The scripts as commands: EVALSHA, so a call sends the script's hash, not its text. */
type ClaimCommands = {
  claimTake(run: string, attemptKey: string, ended: string, holder: string, leaseMs: number): Promise<number>;
  claimRenew(run: string, holder: string, leaseMs: number): Promise<number>;
  claimRelease(run: string, holder: string): Promise<number>;
  claimSettle(run: string, outcomeKey: string, value: string, keepMs: number, holder: string): Promise<number>;
};

function defineClaimCommands(redis: Redis): ClaimCommands {
  redis.defineCommand('claimTake', { numberOfKeys: 3, lua: TAKE_LUA });
  redis.defineCommand('claimRenew', { numberOfKeys: 1, lua: RENEW_LUA });
  redis.defineCommand('claimRelease', { numberOfKeys: 1, lua: RELEASE_LUA });
  redis.defineCommand('claimSettle', { numberOfKeys: 2, lua: SETTLE_LUA });
  return redis as unknown as ClaimCommands;
}

/**
 * The state from the three keys' values. A bare '1' under the attempt key was written before
 * leases existed, when an attempt was marked at its start and never run again: ended.
 */
export function toClaimState(values: { run: string | null; attempt: string | null; ended: string | null }): ClaimState {
  if (values.ended !== null) return 'ended';
  if (values.attempt === 'retrying') return 'retrying';
  if (values.attempt !== null) return 'ended';
  return values.run === null ? undefined : 'running';
}

export function createRedisAttemptClaims(redis: Redis, options: { leaseMs: number; keepMs: number }): AttemptClaims {
  const keys = (eventId: string, attempt: number) => {
    const key = (suffix: string) => KEYS.processed('worker', `${eventId}:${suffix}`);
    return [KEYS.workerRun(eventId), key(String(attempt)), key('ended')] as const;
  };
  const holder = (attempt: number, token: string) => `running:${attempt}:${token}`;
  const commands = defineClaimCommands(redis);
  const what = (verb: string, eventId: string, attempt: number) => () => `${verb} attempt ${attempt} of event ${eventId}`;
  return {
    leaseMs: options.leaseMs,
    take: (eventId, attempt, token) =>
      guarded(what('claiming', eventId, attempt), async () => {
        const [run, attemptKey, ended] = keys(eventId, attempt);
        return (await commands.claimTake(run, attemptKey, ended, holder(attempt, token), options.leaseMs)) === 1;
      }),
    renew: (eventId, attempt, token) =>
      guarded(what('renewing the lease of', eventId, attempt), async () => {
        await commands.claimRenew(keys(eventId, attempt)[0], holder(attempt, token), options.leaseMs);
      }),
    settle: (eventId, attempt, outcome, token) =>
      guarded(what('recording the outcome of', eventId, attempt), async () => {
        const [run, attemptKey, ended] = keys(eventId, attempt);
        const [key, value] = outcome === 'ended' ? [ended, String(attempt)] : [attemptKey, outcome];
        await commands.claimSettle(run, key, value, options.keepMs, holder(attempt, token));
      }),
    release: (eventId, attempt, token) =>
      guarded(what('releasing', eventId, attempt), async () => {
        await commands.claimRelease(keys(eventId, attempt)[0], holder(attempt, token));
      }),
    read: (eventId, attempt) =>
      guarded(what('reading the claim of', eventId, attempt), async () => {
        const [run, attemptValue, ended] = await redis.mget(...keys(eventId, attempt));
        return toClaimState({ run: run ?? null, attempt: attemptValue ?? null, ended: ended ?? null });
      }),
  };
}
