// What every HTTP face of a stage does around its handler (the CloudEvents runtime and the
// enricher's call alike): health probes, counting the requests in flight, refusing new ones with
// 503 once draining, and on SIGTERM stopping to listen, waiting for the in-flight ones up to a
// deadline, then closing whatever connections are left.
import { createServer, STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { once } from 'node:events';
import type { RouteHandler, Router } from './http-router';

/**
 * Keep-alive: the server keeps an idle connection longer than the clients that reuse it (node's
 * agent and undici keep theirs 4-5 s, load balancers about 60 s), so it is always the client that
 * closes an idle connection, never the server in the instant the client reuses it (which the
 * client sees as a reset, and the source as a failed delivery). The headers deadline must exceed
 * the keep-alive timeout, or node would cut an idle connection that has just started a request.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;
export const HEADERS_TIMEOUT_MS = 66_000;

export type DrainableServer = {
  /** Adds GET /health/liveness and /health/readiness (not ready while draining or `isReady` says so). */
  addHealthRoutes(router: Router, isReady?: () => boolean): void;
  /** Wraps a work route: 503 DRAINING (connection closed) once draining, else counted in flight. */
  refuseWhileDraining(component: string, handler: RouteHandler): RouteHandler;
  /** Runs one request's work, counted as in flight until it settles. */
  track<T>(work: () => Promise<T>): Promise<T>;
  inFlight(): number;
  /** Binds `host` (HOST, loopback unless a deployment opens it: shared/config.ts readListenHost). */
  listen(router: Router, port: number, host: string): Promise<Server>;
  /** Stops taking requests and waits for the in-flight ones, at most `timeoutMs`. */
  drain(timeoutMs: number): Promise<void>;
};

/**
 * What node's HTTP parser refuses (CR, LF or another control byte in a header, headers too large,
 * bytes that are not HTTP) never reaches a route, and node answers it with an empty body. Answer
 * as for every other refusal instead: the status node would use (431 for oversized headers, 408
 * for a request timeout, else 400) and a JSON body that names the problem.
 */
function answerMalformedRequests(server: Server): void {
  server.on('clientError', (error: Error & { code?: string }, socket: Duplex) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const body = JSON.stringify({
      error: 'BAD_REQUEST',
      message: `malformed HTTP request: ${error.message}${error.code ? ` (${error.code})` : ''}`,
    });
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
}

export function createDrainableServer(): DrainableServer {
  let draining = false;
  let inFlight = 0;
  let idle: (() => void) | undefined;
  let server: Server | undefined;

  async function track<T>(work: () => Promise<T>): Promise<T> {
    inFlight += 1;
    try {
      return await work();
    } finally {
      inFlight -= 1;
      if (inFlight === 0) idle?.();
    }
  }

  return {
    addHealthRoutes(router, isReady) {
      router.get('/health/liveness', (_req, res) => {
        res.status(200).json({ status: 'ok' });
      });
      router.get('/health/readiness', (_req, res) => {
        const ready = !draining && (isReady?.() ?? true);
        res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', draining });
      });
    },
    refuseWhileDraining: (component, handler) => (req, res) => {
      if (draining) {
        res.status(503).set('connection', 'close').json({ error: 'DRAINING', message: `${component} is shutting down` });
        return;
      }
      return track(async () => handler(req, res));
    },
    track,
    inFlight: () => inFlight,
    async listen(router, port, host) {
      server = createServer(router.listener);
      server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
      server.headersTimeout = HEADERS_TIMEOUT_MS;
      answerMalformedRequests(server);
      server.listen(port, host);
      await once(server, 'listening');
      return server;
    },
    async drain(timeoutMs) {
      draining = true;
      server?.close();
      if (inFlight > 0) {
        await Promise.race([
          new Promise<void>((resolve) => (idle = resolve)),
          new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref()),
        ]);
      }
      server?.closeAllConnections();
    },
  };
}
