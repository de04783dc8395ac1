// The enricher's HTTP side: POST /enrich (JSON in, JSON out), health probes, a body limit and a
// drain for SIGTERM. The logic lives in handler.ts; this file only maps HTTP to it and errors
// back to statuses (the same mapping as the CloudEvents runtime).
import express, { type Request, type Response } from 'express';
import type { Server } from 'node:http';
import { ValidationError } from '../../shared/errors';
import type { Logger } from '../../shared/logger';
import { createDrainableServer } from '../../shared/runtime/drainable-server';
import { toErrorResponse, toRequestErrorResponse } from '../../shared/runtime/function-app';
import type { EnrichHandler } from './handler';

export type EnricherAppOptions = {
  handler: EnrichHandler;
  logger: Logger;
  bodyLimitBytes: number;
};

export type EnricherApp = {
  app: express.Express;
  listen(port: number, host: string): Promise<Server>;
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
  const lifecycle = createDrainableServer();
  lifecycle.addHealthRoutes(app);

  app.post(
    '/enrich',
    lifecycle.refuseWhileDraining('enricher'),
    // Any content type: the body is parsed as JSON below, so a wrong header still gets a clear 400.
    express.raw({ type: () => true, limit: options.bodyLimitBytes }),
    (req: Request, res: Response) =>
      lifecycle.track(async () => {
        try {
          res.status(200).json(await handler.enrich(parseBody(req.body)));
        } catch (error) {
          const response = toErrorResponse(error);
          logger[response.status >= 500 ? 'warn' : 'info']({ status: response.status, reason: response.message }, 'enrich refused');
          res.status(response.status).json({ error: response.code, message: response.message });
        }
      }),
  );

  // Body parser errors (oversized, aborted, a bad encoding) arrive here: answer with their
  // status, not 500, which the caller would retry.
  app.use((error: unknown, _req: Request, res: Response, _next: express.NextFunction) => {
    const response = toRequestErrorResponse(error);
    res.status(response.status).json({ error: response.code, message: response.message });
  });

  return {
    app,
    listen: (port, host) => lifecycle.listen(app, port, host),
    drain: (timeoutMs) => lifecycle.drain(timeoutMs),
  };
}
