// What a poster is: POSTs to one URL with a timeout and an abort signal, answered with the
// status and body, failed with a PostError. http-poster.ts picks the implementation: the lean
// HTTP/1.1 client (http1-client.ts) for http:, node's https agent for https:.

export type PostRequest = {
  headers: Record<string, string>;
  body: string | Buffer | undefined;
  timeoutMs: number;
  /** Aborts the request (shutdown gave up on it). */
  signal?: AbortSignal;
};

export type PostAnswer = { status: number; statusText: string; body: string };

export type Poster = {
  post(request: PostRequest): Promise<PostAnswer>;
  /** Closes its connections (on stop). */
  close(): void;
};

/** The errors of a request written on a kept-alive connection that the server closed as it went
 * out: not the sink failing, so the request is sent once more on a new connection. */
export const STALE_CONNECTION_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE']);

/** The host to open a socket to: the URL's hostname without an IPv6 literal's brackets. */
export function toSocketHost(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

/** A failed request: a timeout, an abort, or a connection error (with its errno code). */
export class PostError extends Error {
  readonly code: string | undefined;
  constructor(message: string, options: { code?: string | undefined; cause?: unknown; name?: string }) {
    super(message, { cause: options.cause });
    this.code = options.code;
    if (options.name) this.name = options.name;
  }
}
