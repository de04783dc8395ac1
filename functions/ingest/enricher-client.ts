// The HTTP call to the enricher, injected into the handler as `enrich(input, signal)`. Every
// failure (connection refused, abort/timeout, non-2xx, a body without `enrichment`) becomes a
// DependencyUnavailableError: the enricher's answer can change on a later attempt, so the source
// retries the delivery.
//
// Calls are batched: the calls made in one turn of the event loop (ingest handles the events of
// a delivery batch concurrently) go out together as one POST /enrich/batch, and each caller gets
// its own request's outcome. One request per task was ingest's largest cost left per task (its
// HTTP client plus the enricher's server: about 0.35 ms of CPU of 5.5, docs/performance.md).
// Nothing waits on a timer: the batch leaves at the end of the turn that made the calls.
//
// An enricher without the batch route (an external API put in its place answers 404 or 405) gets
// one POST /enrich per request from then on; a batch over its body limit (413) is sent again one
// request at a time.
import { DependencyUnavailableError, describeError } from '../../shared/errors';
import { createPoster, type Poster } from '../../shared/http-poster';

export type EnrichInput = {
  taskId: string;
  type: string;
  metadata: Record<string, string>;
};

export type Enrichment = Record<string, unknown>;

export type EnrichFn = (input: EnrichInput, signal: AbortSignal) => Promise<Enrichment>;

export type EnricherClientOptions = {
  /** Base URL, e.g. http://127.0.0.1:8100 (the client appends /enrich and /enrich/batch). */
  url: string;
  /** Keep-alive HTTP to /enrich and to /enrich/batch (pooled posters by default). */
  poster?: Pick<Poster, 'post'>;
  batchPoster?: Pick<Poster, 'post'>;
  /** How long one request (single or batch) may take; each caller's signal may end its wait sooner. */
  timeoutMs?: number;
};

/** Most requests in one batch call, and most body bytes (the enricher's default limit is 64 KiB). */
export const MAX_BATCH_REQUESTS = 64;
export const MAX_BATCH_BYTES = 32 * 1024;

export function toEnrichUrl(base: string): string {
  return new URL('enrich', base.endsWith('/') ? base : `${base}/`).toString();
}

export function toEnrichBatchUrl(base: string): string {
  return new URL('enrich/batch', base.endsWith('/') ? base : `${base}/`).toString();
}

type Call = {
  json: string;
  resolve: (enrichment: Enrichment) => void;
  reject: (error: Error) => void;
  /** Stops listening to the caller's signal. */
  release: () => void;
  settled: boolean;
};

type Answer = { status: number; body: string };

/** The enrichment in a parsed answer body, or an error naming what is wrong with it. */
function toEnrichment(body: unknown): Enrichment | Error {
  const enrichment = (body as { enrichment?: unknown } | null)?.enrichment;
  if (enrichment === null || typeof enrichment !== 'object' || Array.isArray(enrichment)) {
    return new DependencyUnavailableError('enricher answered without an enrichment object');
  }
  return enrichment as Enrichment;
}

/** A non-2xx answer, as the error its callers get. */
function toRefusal(answer: Answer): DependencyUnavailableError {
  return new DependencyUnavailableError(`enricher answered ${answer.status}: ${answer.body.slice(0, 300)}`);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new DependencyUnavailableError(`enricher answered invalid JSON: ${describeError(error)}`);
  }
}

/** Splits the calls into batches of at most MAX_BATCH_REQUESTS requests and MAX_BATCH_BYTES. */
export function toBatches<T extends { json: string }>(calls: readonly T[]): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const call of calls) {
    if (current.length > 0 && (current.length >= MAX_BATCH_REQUESTS || bytes + call.json.length > MAX_BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(call);
    bytes += call.json.length + 1;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

export function createEnricherClient(options: EnricherClientOptions): EnrichFn {
  const url = toEnrichUrl(options.url);
  const batchUrl = toEnrichBatchUrl(options.url);
  const poster = options.poster ?? createPoster(url, { maxSockets: 64 });
  const batchPoster = options.batchPoster ?? createPoster(batchUrl, { maxSockets: 16 });
  const timeoutMs = options.timeoutMs ?? 60_000;
  let batchesSupported = true;
  let queued: Call[] = [];

  const settle = (call: Call, outcome: Enrichment | Error) => {
    if (call.settled) return;
    call.settled = true;
    call.release();
    if (outcome instanceof Error) call.reject(outcome);
    else call.resolve(outcome);
  };

  const post = async (target: Pick<Poster, 'post'>, where: string, body: string): Promise<Answer> => {
    try {
      return await target.post({ headers: { 'content-type': 'application/json' }, body, timeoutMs });
    } catch (error) {
      throw new DependencyUnavailableError(`enricher at ${where} is unreachable: ${describeError(error)}`, { cause: error });
    }
  };

  const sendOne = async (call: Call): Promise<void> => {
    try {
      const answer = await post(poster, url, call.json);
      if (answer.status < 200 || answer.status > 299) throw toRefusal(answer);
      settle(call, toEnrichment(parseJson(answer.body)));
    } catch (error) {
      settle(call, error as Error);
    }
  };

  const sendBatch = async (calls: Call[]): Promise<void> => {
    try {
      const answer = await post(batchPoster, batchUrl, `[${calls.map((call) => call.json).join(',')}]`);
      if (answer.status === 404 || answer.status === 405) batchesSupported = false;
      if (answer.status === 404 || answer.status === 405 || answer.status === 413) {
        await Promise.all(calls.filter((call) => !call.settled).map(sendOne));
        return;
      }
      if (answer.status !== 200) throw toRefusal(answer);
      const results = (parseJson(answer.body) as { results?: unknown } | null)?.results;
      if (!Array.isArray(results) || results.length !== calls.length) {
        throw new DependencyUnavailableError(`enricher answered a batch of ${calls.length} without one result per request`);
      }
      calls.forEach((call, index) => settle(call, toItemOutcome(results[index])));
    } catch (error) {
      for (const call of calls) settle(call, error as Error);
    }
  };

  const flush = () => {
    const calls = queued.filter((call) => !call.settled);
    queued = [];
    if (!batchesSupported) {
      for (const call of calls) void sendOne(call);
      return;
    }
    for (const batch of toBatches(calls)) void sendBatch(batch);
  };

  return (input, signal) =>
    new Promise<Enrichment>((resolve, reject) => {
      const onAbort = () =>
        settle(call, new DependencyUnavailableError(`enricher at ${url} is unreachable: ${describeError(signal.reason ?? 'aborted')}`));
      const release = () => signal.removeEventListener('abort', onAbort);
      const call: Call = { json: JSON.stringify(input), resolve, reject, release, settled: false };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      queued.push(call);
      if (queued.length === 1) setImmediate(flush);
    });
}

/** One result line of a batch answer: the enrichment, or the error its own call would have had. */
function toItemOutcome(result: unknown): Enrichment | Error {
  const { status, error, message } = (result ?? {}) as { status?: unknown; error?: unknown; message?: unknown };
  if (status === 200) return toEnrichment(result);
  const reason = [error, message].filter((part) => typeof part === 'string').join(': ');
  return new DependencyUnavailableError(`enricher answered ${String(status)}: ${reason || JSON.stringify(result).slice(0, 300)}`);
}
