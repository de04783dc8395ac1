// Follows a task's status stream to its terminal state across broken streams. The transport is
// injected (`open`), so the resume rules are plain logic: a stream that breaks with UNAVAILABLE,
// INTERNAL or a server-side CANCELLED (a gateway restart, a dropped connection) or ends before a
// terminal state is reopened
// with after_seq = the last seq yielded (docs/decisions/0002-status-stream-start.md), after an
// exponential, jittered, bounded backoff. Every seq is yielded at most once and in increasing
// order, whatever the server replays.
import { status as GrpcStatus } from '@grpc/grpc-js';
import { TaskManagerClientError, toClientError } from './errors';
import { isTerminalState, type StatusUpdate } from './types';

export type RetryPolicy = {
  /** Consecutive failed (re)connects tolerated before the error is thrown. */
  retries: number;
  initialDelayMs: number;
  maxDelayMs: number;
};

export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 8, initialDelayMs: 100, maxDelayMs: 5_000 };

export type WatchOptions = {
  /** Absent: start with the current state. Present: replay every change with seq > afterSeq
   *  (0 = the whole history). */
  afterSeq?: number;
  /** Aborting ends the iteration quietly (no error) and cancels the call. */
  signal?: AbortSignal;
  retry?: Partial<RetryPolicy>;
};

/** Opens one StreamStatus call; ends or throws when the call does, stops the call on abort. */
export type StreamOpener = (afterSeq: number | undefined, signal: AbortSignal | undefined) => AsyncIterable<StatusUpdate>;

export type WatchDeps = {
  open: StreamOpener;
  sleep?: (ms: number, signal: AbortSignal | undefined) => Promise<void>;
  random?: () => number;
};

// UNAVAILABLE: connection lost or gateway draining; INTERNAL: a stream reset mid-way; CANCELLED:
// a server that shuts down cancels its open streams (grpc-js forceShutdown). A cancel of our own
// never gets here: followStatus checks the caller's signal first.
const RESUMABLE_CODES = new Set<number>([GrpcStatus.UNAVAILABLE, GrpcStatus.INTERNAL, GrpcStatus.CANCELLED]);

export function isResumable(error: TaskManagerClientError): boolean {
  return RESUMABLE_CODES.has(error.grpcCode);
}

/** Delay before reconnect number `failures` (1-based): exponential, capped, with jitter in
 *  [50%, 100%] so many clients cut off by one gateway restart do not return in lockstep. */
export function toRetryDelayMs(failures: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.max(0, failures - 1));
  return Math.round(base * (0.5 + 0.5 * random()));
}

export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export async function* followStatus(deps: WatchDeps, options: WatchOptions = {}): AsyncGenerator<StatusUpdate, void, undefined> {
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  const wait = deps.sleep ?? sleep;
  const { signal } = options;
  let lastSeq = options.afterSeq;
  let failures = 0;
  for (;;) {
    if (signal?.aborted) return;
    let failure: TaskManagerClientError;
    try {
      for await (const update of deps.open(lastSeq, signal)) {
        if (lastSeq !== undefined && update.seq <= lastSeq) continue;
        lastSeq = update.seq;
        failures = 0;
        yield update;
        if (isTerminalState(update.state)) return;
      }
      failure = new TaskManagerClientError(GrpcStatus.UNAVAILABLE, 'status stream ended before a terminal state');
    } catch (error) {
      if (signal?.aborted) return;
      failure = toClientError(error);
      if (!isResumable(failure)) throw failure;
    }
    failures += 1;
    if (failures > policy.retries) throw failure;
    await wait(toRetryDelayMs(failures, policy, deps.random), signal);
  }
}
