// The enricher's HTTP side: POST /enrich (JSON in, JSON out), POST /enrich/batch (a JSON array of
// requests in, `{results}` out: one per request, in order, each `{status: 200, enrichment}` or
// the status, error code and message a call of its own would have had), health probes, a body
// limit and a drain for SIGTERM. The logic lives in handler.ts; this file only maps HTTP to it and errors
// back to statuses (the same mapping as the CloudEvents runtime).
import type { Server } from 'node:http';
import { ValidationError } from '../../shared/errors';
import type { Logger } from '../../shared/logger';
import { createDrainableServer } from '../../shared/runtime/drainable-server';
import { toErrorResponse } from '../../shared/runtime/error-response';
import { readBodyOrRefuse } from '../../shared/runtime/http-body';
import { createRouter, type Router } from '../../shared/runtime/http-router';
import type { EnrichHandler, EnrichOutcome } from './handler';

export type EnricherAppOptions = {
  handler: EnrichHandler;
  logger: Logger;
  bodyLimitBytes: number;
};

export type EnricherApp = {
  router: Router;
  listen(port: number, host: string): Promise<Server>;
  /** Stops taking calls (readiness fails, new calls get 503) and waits for in-flight ones. */
  drain(timeoutMs: number): Promise<void>;
};

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function parseBody(bytes: Buffer): unknown {
  if (bytes.length === 0) throw new ValidationError('request body is empty: expected a JSON object', { field: 'body' });
  try {
    return JSON.parse(UTF8.decode(bytes));
  } catch (error) {
    throw new ValidationError(`request body is not valid JSON: ${(error as Error).message}`, { field: 'body' });
  }
}

function toResult(outcome: EnrichOutcome): Record<string, unknown> {
  if ('enrichment' in outcome) return { status: 200, enrichment: outcome.enrichment };
  const response = toErrorResponse(outcome.error);
  return { status: response.status, error: response.code, message: response.message };
}

export function createEnricherApp(options: EnricherAppOptions): EnricherApp {
  const { handler, logger } = options;
  const router = createRouter();
  const lifecycle = createDrainableServer();
  lifecycle.addHealthRoutes(router);

  /** A JSON route: the body parsed as JSON, answered 200 with `answer`'s value, or with the
   * status and reason of what it threw. Any content type: a wrong header still gets a clear 400. */
  const jsonRoute = (path: string, refused: string, answer: (body: unknown) => Promise<unknown>) =>
    router.post(
      path,
      lifecycle.refuseWhileDraining('enricher', async (req, res) => {
        const body = await readBodyOrRefuse(req, res, options.bodyLimitBytes);
        if (!body) return;
        try {
          res.status(200).json(await answer(parseBody(body)));
        } catch (error) {
          const response = toErrorResponse(error);
          logger[response.status >= 500 ? 'warn' : 'info']({ status: response.status, reason: response.message }, refused);
          res.status(response.status).json({ error: response.code, message: response.message });
        }
      }),
    );

  jsonRoute('/enrich', 'enrich refused', (body) => handler.enrich(body));
  jsonRoute('/enrich/batch', 'enrich batch refused', async (body) => ({ results: (await handler.enrichMany(body)).map(toResult) }));

  return {
    router,
    listen: (port, host) => lifecycle.listen(router, port, host),
    drain: (timeoutMs) => lifecycle.drain(timeoutMs),
  };
}
