// POSTs to one URL over kept-alive connections, not `fetch` (a request costs a fraction of
// fetch's CPU: no web streams, no per-request dispatcher work). The sources deliver to their sink
// with it, ingest calls the enricher. Plain http: goes through the lean HTTP/1.1 client
// (http1-client.ts); https: through node's https agent, below.
//
// Both keep one rule: a kept-alive connection can be closed by the server just as a request is
// written on it, and the request then fails with ECONNRESET (or EPIPE) before any answer. That is
// not the sink failing, and counting it as a failed delivery would spend one of the task's
// attempts, so such a request is sent once more on a fresh connection (here `request.reusedSocket`,
// node's documented signal for exactly this). Every delivery is idempotent downstream, so a second
// send is harmless.
import { createHttp1Client } from './http1-client';
import { loadHttps } from './lazy-tls';
import { PostError, STALE_CONNECTION_CODES, toSocketHost, type PostAnswer, type Poster, type PostRequest } from './poster';

export { PostError, type PostAnswer, type Poster, type PostRequest } from './poster';

export function createPoster(target: string, options: { maxSockets: number }): Poster {
  const url = new URL(target);
  return url.protocol === 'https:' ? createHttpsPoster(url, options) : createHttp1Client(url, options);
}

/** node's https agent, kept alive and pooled (TLS is no hot path of the local stack). */
function createHttpsPoster(url: URL, options: { maxSockets: number }): Poster {
  const https = loadHttps();
  const agent = new https.Agent({ keepAlive: true, maxSockets: options.maxSockets, scheduling: 'lifo' });
  const send = https.request;
  const base = {
    protocol: url.protocol,
    hostname: toSocketHost(url),
    port: url.port || 443,
    path: `${url.pathname}${url.search}`,
    method: 'POST',
    agent,
  };

  const once = (request: PostRequest): Promise<PostAnswer & { staleRetry?: boolean }> =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { ...request.headers };
      if (request.body !== undefined) headers['content-length'] = Buffer.byteLength(request.body);
      let answered = false;
      const req = send({ ...base, headers }, (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', fail);
      });
      const timer = setTimeout(() => {
        req.destroy(new PostError(`no answer within ${request.timeoutMs} ms`, { name: 'TimeoutError' }));
      }, request.timeoutMs);
      const onAbort = () => req.destroy(new PostError('delivery abandoned', { name: 'AbortError' }));
      request.signal?.addEventListener('abort', onAbort, { once: true });
      function fail(error: Error & { code?: string }) {
        clearTimeout(timer);
        request.signal?.removeEventListener('abort', onAbort);
        if (!answered && req.reusedSocket && error.code !== undefined && STALE_CONNECTION_CODES.has(error.code)) {
          resolve({ status: 0, statusText: '', body: '', staleRetry: true });
          return;
        }
        reject(error instanceof PostError ? error : new PostError(error.message, { code: error.code, cause: error }));
      }
      req.on('error', fail);
      req.on('close', () => request.signal?.removeEventListener('abort', onAbort));
      if (request.signal?.aborted) onAbort();
      req.end(request.body);
    });

  return {
    async post(request) {
      const first = await once(request);
      if (!first.staleRetry) return first;
      const second = await once(request);
      if (second.staleRetry) throw new PostError('connection reset by the sink', { code: 'ECONNRESET' });
      return second;
    },
    close: () => agent.destroy(),
  };
}
