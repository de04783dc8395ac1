// The enricher's HTTP side: POST /enrich (JSON in, JSON out), health probes, a body limit and a
// drain for SIGTERM. The logic lives in handler.ts; this file only maps HTTP to it and errors
// back to statuses (the same mapping as the CloudEvents runtime).
import express, { type Request, type Response } from 'express';
import type { Server } from 'node:http';
import { once } from 'node:events';
import { ValidationError } from '../../shared/errors';
import type { Logger } from '../../shared/logger';
import { answerMalformedRequests, toErrorResponse } from '../../shared/runtime/function-app';
import type { EnrichHandler } from './handler';

export type EnricherAppOptions = {
  handler: EnrichHandler;
  logger: Logger;
  bodyLimitBytes: number;
};

export type EnricherApp = {
  app: express.Express;
  listen(port: number, host?: string): Promise<Server>;
  /** Stops taking calls (readiness fails, new calls get 503) and waits for in-flight ones. */
  drain(timeoutMs: number): Promise<void>;
};

function parseBody(body: unknown): unknown {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
  if (bytes.length === 0) throw new ValidationError('request body is empty: expected a JSON object', { field: 'body' });
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw new ValidationError(`request body is not valid JSON: ${(error as Error).message}`, { field: 'body' });
  }
}

export function createEnricherApp(options: EnricherAppOptions): EnricherApp {
  const { handler, logger } = options;
  const app = express();
  app.disable('x-powered-by');
  let draining = false;
  let inFlight = 0;
  let idle: (() => void) | undefined;
  let server: Server | undefined;

  app.get('/health/liveness', (_req, res) => {
    res.status(200).json({ status: 'ok' });
  });
  app.get('/health/readiness', (_req, res) => {
    res.status(draining ? 503 : 200).json({ status: draining ? 'not ready' : 'ready', draining });
  });

  app.post(
    '/enrich',
    (_req, res, next) => {
      if (draining) {
        res.status(503).set('connection', 'close').json({ error: 'DRAINING', message: 'enricher is shutting down' });
        return;
      }
      next();
    },
    // Any content type: the body is parsed as JSON below, so a wrong header still gets a clear 400.
    express.raw({ type: () => true, limit: options.bodyLimitBytes }),
    async (req: Request, res: Response) => {
      inFlight += 1;
      try {
        const answer = await handler.enrich(parseBody(req.body));
        res.status(200).json(answer);
      } catch (error) {
        const response = toErrorResponse(error);
        logger[response.status >= 500 ? 'warn' : 'info']({ status: response.status, reason: response.message }, 'enrich refused');
        res.status(response.status).json({ error: response.code, message: response.message });
      } finally {
        inFlight -= 1;
        if (inFlight === 0) idle?.();
      }
    },
  );

  // Body parser errors (oversized, aborted) arrive here: answer with their status, not 500.
  app.use((error: unknown, _req: Request, res: Response, _next: express.NextFunction) => {
    const response = toErrorResponse(error);
    res.status(response.status).json({ error: response.code, message: response.message });
  });

  return {
    app,
    async listen(port, host = '0.0.0.0') {
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
