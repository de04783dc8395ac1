// The HTTP call to the enricher, injected into the handler as `enrich(input, signal)`. Every
// failure (connection refused, abort/timeout, non-2xx, a body without `enrichment`) becomes a
// DependencyUnavailableError: the enricher's answer can change on a later attempt, so the source
// retries the delivery.
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
  /** Base URL, e.g. http://127.0.0.1:8100 (the client appends /enrich). */
  url: string;
  /** Keep-alive HTTP to the enricher (a pooled poster by default). */
  poster?: Pick<Poster, 'post'>;
  /** Calls of one request at most; the timeout is the caller's signal (ingest's). */
  timeoutMs?: number;
};

export function toEnrichUrl(base: string): string {
  return new URL('enrich', base.endsWith('/') ? base : `${base}/`).toString();
}

export function createEnricherClient(options: EnricherClientOptions): EnrichFn {
  const url = toEnrichUrl(options.url);
  const poster = options.poster ?? createPoster(url, { maxSockets: 64 });
  return async (input, signal) => {
    let answer: { status: number; body: string };
    try {
      answer = await poster.post({
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(input),
        timeoutMs: options.timeoutMs ?? 60_000,
        signal,
      });
    } catch (error) {
      throw new DependencyUnavailableError(`enricher at ${url} is unreachable: ${describeError(signal.reason ?? error)}`, {
        cause: error,
      });
    }
    const text = answer.body;
    if (answer.status < 200 || answer.status > 299) {
      throw new DependencyUnavailableError(`enricher answered ${answer.status}: ${text.slice(0, 300)}`);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (error) {
      throw new DependencyUnavailableError(`enricher answered invalid JSON: ${describeError(error)}`);
    }
    const enrichment = (body as { enrichment?: unknown } | null)?.enrichment;
    if (enrichment === null || typeof enrichment !== 'object' || Array.isArray(enrichment)) {
      throw new DependencyUnavailableError('enricher answered without an enrichment object');
    }
    return enrichment as Enrichment;
  };
}
