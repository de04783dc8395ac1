// Groups deliveries to an order-insensitive stage (notifier, audit) into CloudEvents batch
// requests (docs/design.md §6: per-request HTTP cost is the largest part of a task's CPU cost).
//
// Group commit, not a timer: events that arrive in the same turn of the event loop (a pull's
// batch arrives as many messages read at once) go out together at the end of that turn, and
// while `maxConcurrent` batch requests are in flight the next events queue
// behind the requests in flight and go out together in the next one. Each delivery keeps its
// own slot, span, attempt count and settlement in delivery.ts: this module only carries the
// bytes and hands each caller its own event's outcome.
//
// Outcomes:
// - the function answered the batch (200/207 with one result per event): each caller gets its
//   event's status and error text, settled as if it had come alone;
// - the request failed (connection refused, timeout): each caller gets the error, to be retried;
// - any other answer (a function without batch support says 400, a draining one 503, a body
//   over its limit 413): `unbatched`, and each caller delivers its event on its own, which
//   gives each one its proper verdict.
import { BATCH_CONTENT_TYPE } from '../shared/runtime/http-message';
import type { Poster } from '../shared/http-poster';

export type BatchOutcome =
  | { kind: 'answered'; status: number; body: string }
  | { kind: 'failed'; error: unknown }
  | { kind: 'unbatched' }
  | { kind: 'abandoned' };

export type BatchPosterOptions = {
  poster: Pick<Poster, 'post'>;
  requestTimeoutMs: number;
  /** Most events per request. */
  maxEvents: number;
  /** Most body bytes per request (an event alone may exceed it: it is then sent alone). */
  maxBytes: number;
  /** Batch requests in flight at once. */
  maxConcurrent: number;
};

export type BatchPoster = {
  /** Sends `json` (one structured CloudEvent) in the next batch; `abandon` gives up waiting. */
  post(json: string, abandon: AbortSignal): Promise<BatchOutcome>;
};

type Waiting = { json: string; bytes: number; settle: (outcome: BatchOutcome) => void; settled: boolean; release?: () => void };

type ResultLine = { status: number };

/** The per-event results of a batch answer, or undefined when it is not one for `count` events. */
export function toBatchResults(status: number, body: string, count: number): ResultLine[] | undefined {
  if (status !== 200 && status !== 207) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  const results = (parsed as { results?: unknown } | null)?.results;
  if (!Array.isArray(results) || results.length !== count) return undefined;
  const valid = results.every(
    (result: unknown) => typeof result === 'object' && result !== null && Number.isInteger((result as ResultLine).status),
  );
  return valid ? (results as ResultLine[]) : undefined;
}

/** The body the stage answered for one event, as its single-event answer would have read. */
function toEventBody(result: ResultLine): string {
  const { error, message, retryAfterMs } = result as { error?: unknown; message?: unknown; retryAfterMs?: unknown };
  return error === undefined && message === undefined ? '' : JSON.stringify({ error, message, retryAfterMs });
}

export function createBatchPoster(options: BatchPosterOptions): BatchPoster {
  const queue: Waiting[] = [];
  let inFlight = 0;

  const settle = (item: Waiting, outcome: BatchOutcome) => {
    if (item.settled) return;
    item.settled = true;
    item.release?.();
    item.settle(outcome);
  };

  /** Takes the next batch off the queue: up to maxEvents, within maxBytes (at least one). */
  const takeBatch = (): Waiting[] => {
    const batch: Waiting[] = [];
    let bytes = 2;
    while (queue.length > 0 && batch.length < options.maxEvents) {
      const next = queue[0]!;
      if (batch.length > 0 && bytes + next.bytes + 1 > options.maxBytes) break;
      queue.shift();
      if (next.settled) continue;
      batch.push(next);
      bytes += next.bytes + 1;
    }
    return batch;
  };

  const send = async (batch: Waiting[]) => {
    try {
      const answer = await options.poster.post({
        headers: { 'content-type': BATCH_CONTENT_TYPE },
        body: `[${batch.map((item) => item.json).join(',')}]`,
        timeoutMs: options.requestTimeoutMs,
      });
      const results = toBatchResults(answer.status, answer.body, batch.length);
      batch.forEach((item, index) => {
        const result = results?.[index];
        settle(item, result ? { kind: 'answered', status: result.status, body: toEventBody(result) } : { kind: 'unbatched' });
      });
    } catch (error) {
      for (const item of batch) settle(item, { kind: 'failed', error });
    }
  };

  let scheduled = false;
  /** Sends at the end of this turn of the event loop, so what arrives together goes together. */
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      pump();
    });
  };

  const pump = () => {
    while (inFlight < options.maxConcurrent && queue.length > 0) {
      const batch = takeBatch();
      if (batch.length === 0) continue;
      inFlight += 1;
      void send(batch).finally(() => {
        inFlight -= 1;
        pump();
      });
    }
  };

  return {
    post(json, abandon) {
      return new Promise<BatchOutcome>((resolve) => {
        const item: Waiting = { json, bytes: Buffer.byteLength(json), settle: resolve, settled: false };
        if (abandon.aborted) {
          resolve({ kind: 'abandoned' });
          return;
        }
        // Shutdown gave up: the caller stops waiting; a request already sent still completes
        // (and the stage's answer for this event is dropped: JetStream redelivers it).
        // The signal is shared by every delivery: the listener goes once the item is settled.
        const onAbandon = () => settle(item, { kind: 'abandoned' });
        abandon.addEventListener('abort', onAbandon, { once: true });
        item.release = () => abandon.removeEventListener('abort', onAbandon);
        queue.push(item);
        schedule();
      });
    },
  };
}
