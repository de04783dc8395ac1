// StreamStatus as docs/decisions/0002-status-stream-start.md describes it, over injected reads
// so that the ordering rules are unit-tested without Redis:
// 1. subscribe to the task's channel first and buffer what arrives;
// 2. then read the snapshot (after_seq absent) or the history after after_seq, together with
//    whether the task exists for the caller;
// 3. send in seq order, never a seq already sent; a gap in the live feed (or a resubscribe after
//    a dropped connection) is filled from the history, so nothing is missed;
// 4. end after a terminal state; release the subscription as soon as the client goes away.
// A catch-up read that fails (Redis is back for the subscriber but not yet for commands) is
// retried for a while rather than ending a stream that has lost nothing yet.
import { isTerminal, KEYS, type StoredStatus } from '../shared/contract';
import { NotFoundError } from '../shared/errors';
import { parseStoredStatus } from '../shared/status';
import type { StatusHub, StatusListener } from './status-hub';

export type StatusReads = {
  taskExists(taskId: string): Promise<boolean>;
  readStatus(taskId: string): Promise<StoredStatus | undefined>;
  readHistory(taskId: string, afterSeq: number): Promise<StoredStatus[]>;
};

export type StatusStreamRequest = { taskId: string; afterSeq: number | undefined };

export type StatusSink = {
  send(update: StoredStatus): void;
  /** Aborted when the client cancels or disconnects. */
  readonly signal: AbortSignal;
};

type Wakeup = { updates: StoredStatus[]; resync: boolean };

/** Waits between catch-up read attempts; about 20 s in all, then the stream fails UNAVAILABLE. */
export const CATCH_UP_RETRY_DELAYS_MS: readonly number[] = [100, 250, 500, 1_000, ...Array<number>(9).fill(2_000)];

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Where the stream starts: the snapshot (no `afterSeq`) or the history after `afterSeq`. Read
 * together with whether the caller may see the task: one round trip to Redis, not two. What was
 * read for a task the caller may not see is dropped unsent, and NOT_FOUND wins over a failed read.
 */
async function readStart(reads: StatusReads, taskId: string, afterSeq: number | undefined): Promise<StoredStatus | StoredStatus[] | undefined> {
  const [exists, start] = await Promise.allSettled([
    reads.taskExists(taskId),
    afterSeq === undefined ? reads.readStatus(taskId) : reads.readHistory(taskId, afterSeq),
  ]);
  if (exists.status === 'rejected') throw exists.reason;
  if (!exists.value) throw new NotFoundError(`task ${taskId} not found`);
  if (start.status === 'rejected') throw start.reason;
  return start.value;
}

/** Resolves when the stream is complete (terminal state sent) or the client went away. */
export async function runStatusStream(
  hub: Pick<StatusHub, 'subscribe'>,
  reads: StatusReads,
  request: StatusStreamRequest,
  sink: StatusSink,
  retryDelaysMs: readonly number[] = CATCH_UP_RETRY_DELAYS_MS,
): Promise<void> {
  const { taskId } = request;
  const pending: Wakeup = { updates: [], resync: false };
  let wake: (() => void) | undefined;
  const notify = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  const listener: StatusListener = {
    onMessage(message) {
      try {
        pending.updates.push(parseStoredStatus(taskId, message));
      } catch {
        pending.resync = true;
      }
      notify();
    },
    onResync() {
      pending.resync = true;
      notify();
    },
  };

  if (sink.signal.aborted) return;
  const unsubscribe = await hub.subscribe(KEYS.statusChannel(taskId), listener);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    unsubscribe();
  };
  const onAbort = () => {
    release();
    notify();
  };
  sink.signal.addEventListener('abort', onAbort, { once: true });

  let lastSent = request.afterSeq ?? 0;
  /** Sends what is newer than lastSent, in order; true once a terminal state was sent. */
  const sendInOrder = (updates: StoredStatus[]): boolean => {
    for (const update of [...updates].sort((a, b) => a.seq - b.seq)) {
      if (update.seq <= lastSent) continue;
      sink.send(update);
      lastSent = update.seq;
      if (isTerminal(update.state)) return true;
    }
    return false;
  };

  const readMissed = async (): Promise<StoredStatus[]> => {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await reads.readHistory(taskId, lastSent);
      } catch (error) {
        const delay = retryDelaysMs[attempt];
        if (delay === undefined || sink.signal.aborted) throw error;
        await pause(delay, sink.signal);
      }
    }
  };

  try {
    const start = await readStart(reads, taskId, request.afterSeq);
    if (Array.isArray(start)) {
      if (sendInOrder(start)) return;
    } else if (start) {
      // The snapshot stands for everything before it: the stream starts at the current state.
      lastSent = start.seq - 1;
      if (sendInOrder([start])) return;
    }

    while (!sink.signal.aborted) {
      if (pending.updates.length === 0 && !pending.resync) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        continue;
      }
      const updates = pending.updates.splice(0);
      const fresh = updates.filter((update) => update.seq > lastSent).sort((a, b) => a.seq - b.seq);
      const gap = fresh.length > 0 && fresh[0]!.seq > lastSent + 1;
      if (pending.resync || gap) {
        pending.resync = false;
        // The history holds every accepted change; what it lacks is still in `fresh`.
        const missed = await readMissed();
        if (sink.signal.aborted) return;
        if (sendInOrder([...missed, ...fresh])) return;
      } else if (sendInOrder(fresh)) {
        return;
      }
    }
  } finally {
    sink.signal.removeEventListener('abort', onAbort);
    release();
  }
}
