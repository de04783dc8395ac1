// What every HTTP face of a stage does around its handler (the CloudEvents runtime and the
// enricher's call alike): health probes, counting the requests in flight, refusing new ones with
// 503 once draining, and on SIGTERM stopping to listen, waiting for the in-flight ones up to a
// deadline, then closing whatever connections are left.
import type express from 'express';
import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { once } from 'node:events';

export type DrainableServer = {
  /** Adds GET /health/liveness and /health/readiness (not ready while draining or `isReady` says so). */
  addHealthRoutes(app: express.Express, isReady?: () => boolean): void;
  /** Middleware for a work route: 503 DRAINING (connection closed) once draining. */
  refuseWhileDraining(component: string): express.RequestHandler;
  /** Runs one request's work, counted as in flight until it settles. */
  track<T>(work: () => Promise<T>): Promise<T>;
  inFlight(): number;
  /** Binds `host` (HOST, loopback unless a deployment opens it: shared/config.ts readListenHost). */
  listen(app: express.Express, port: number, host: string): Promise<Server>;
  /** Stops taking requests and waits for the in-flight ones, at most `timeoutMs`. */
  drain(timeoutMs: number): Promise<void>;
};

/**
 * What node's HTTP parser refuses (CR, LF or another control byte in a header, headers too large,
 * bytes that are not HTTP) never reaches express, and node answers it with an empty body. Answer
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

  return {
    addHealthRoutes(app, isReady) {
      app.get('/health/liveness', (_req, res) => {
        res.status(200).json({ status: 'ok' });
      });
      app.get('/health/readiness', (_req, res) => {
        const ready = !draining && (isReady?.() ?? true);
        res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', draining });
      });
    },
    refuseWhileDraining: (component) => (_req, res, next) => {
      if (draining) {
        res.status(503).set('connection', 'close').json({ error: 'DRAINING', message: `${component} is shutting down` });
        return;
      }
      next();
    },
    async track(work) {
      inFlight += 1;
      try {
        return await work();
      } finally {
        inFlight -= 1;
        if (inFlight === 0) idle?.();
      }
    },
    inFlight: () => inFlight,
    async listen(app, port, host) {
      server = app.listen(port, host);
      answerMalformedRequests(server);
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
