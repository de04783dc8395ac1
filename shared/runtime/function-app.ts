// The CloudEvents function runtime, written once for every stage: express, binary and
// structured mode, validation, error → status mapping (Knative data-plane semantics), health
// endpoints, body size limit and drain on shutdown. A stage supplies only `handle`.
import express, { type Request, type Response } from 'express';
import type { Server } from 'node:http';
import { isTaskmanagerError, UnsupportedEventError, describeError } from '../errors';
import type { WireEvent } from '../events';
import type { Logger } from '../logger';
import { extractTraceContext, SpanKind, withSpan, currentTraceId } from '../tracing';
import { createDrainableServer } from './drainable-server';
import { isBatchMode, toIncomingBatch, toIncomingEvent, type HttpMessage } from './http-message';

export type HandlerContext = {
  logger: Logger;
  /** 1-based delivery attempt, from the source's `deliveryattempt` extension (1 when absent). */
  attempt: number;
  /** The last attempt the source will make (its MaxDeliver), when it says so. */
  maxDeliver: number | undefined;
};

export type EventHandler = {
  /** CloudEvent types this stage accepts; anything else gets 400. */
  readonly acceptedTypes: readonly string[];
  /** The order of its events does not matter (notifier, audit): it also takes several per
   * request in the CloudEvents batch format, which saves a request per event (docs/design.md §6). */
  readonly acceptsBatches?: boolean;
  handle(event: WireEvent, ctx: HandlerContext): Promise<void>;
};

export type FunctionAppOptions = {
  component: string;
  handler: EventHandler;
  logger: Logger;
  bodyLimitBytes: number;
  /** Extra readiness condition, e.g. dependencies connected. */
  isReady?: () => boolean;
};

export type FunctionApp = {
  app: express.Express;
  listen(port: number, host: string): Promise<Server>;
  /** Stops taking events (readiness fails, new requests get 503), waits for in-flight ones. */
  drain(timeoutMs: number): Promise<void>;
  inFlight(): number;
};

function toPositiveInt(value: unknown): number | undefined {
  const parsed = typeof value === 'string' ? Number(value) : typeof value === 'number' ? value : NaN;
  return Number.isInteger(parsed) && parsed > 0 ? parsed : undefined;
}

export function toErrorResponse(error: unknown): { status: number; code: string; message: string } {
  if (isTaskmanagerError(error)) return { status: error.httpStatus, code: error.code, message: error.message };
  const status = (error as { status?: unknown } | null | undefined)?.status;
  if (status === 413) return { status: 413, code: 'PAYLOAD_TOO_LARGE', message: describeError(error) };
  return { status: 500, code: 'INTERNAL', message: describeError(error) };
}

/**
 * Errors of the body parser (http-errors with a 4xx `status`: an unsupported content-encoding is
 * 415, a corrupt gzip body or an aborted upload 400) are the request's fault: answered with their
 * own status so the source does not retry them, never 500. Only used before the handler runs, so
 * a handler error that happens to carry a `status` cannot turn a retryable failure into a 4xx.
 */
export function toRequestErrorResponse(error: unknown): { status: number; code: string; message: string } {
  const status = (error as { status?: unknown } | null | undefined)?.status;
  if (typeof status === 'number' && status >= 400 && status < 500 && status !== 413) {
    return { status, code: 'BAD_REQUEST', message: describeError(error) };
  }
  return toErrorResponse(error);
}

export function createFunctionApp(options: FunctionAppOptions): FunctionApp {
  const { handler, logger, component } = options;
  const app = express();
  app.disable('x-powered-by');
  const lifecycle = createDrainableServer();
  lifecycle.addHealthRoutes(app, options.isReady);

  app.post(
    '/',
    lifecycle.refuseWhileDraining(component),
    express.raw({ type: () => true, limit: options.bodyLimitBytes }),
    (req: Request, res: Response) => lifecycle.track(() => deliver(req, res)),
  );

  /** What one event's delivery came to: 204, or the status and error body it is refused with. */
  type Outcome = { status: number; error?: string; message?: string };

  function refuse(error: unknown): Outcome {
    const response = toErrorResponse(error);
    logger.warn({ status: response.status, reason: response.message }, 'refused event');
    return { status: response.status, error: response.code, message: response.message };
  }

  async function handleEvent(event: WireEvent): Promise<Outcome> {
    if (!handler.acceptedTypes.includes(event.type)) {
      return refuse(
        new UnsupportedEventError(`unsupported event type "${event.type}": ${component} accepts ${handler.acceptedTypes.join(', ')}`),
      );
    }
    const ctx: HandlerContext = {
      attempt: toPositiveInt(event.deliveryattempt) ?? 1,
      maxDeliver: toPositiveInt(event.maxdeliver),
      logger: logger.child({ taskId: event.subject, eventId: event.id, eventType: event.type }),
    };
    try {
      await withSpan(
        `handle ${event.type}`,
        SpanKind.CONSUMER,
        { 'cloudevents.event_id': event.id, 'cloudevents.event_type': event.type, 'taskmanager.task_id': event.subject ?? '' },
        async () => {
          ctx.logger = ctx.logger.child({ traceId: currentTraceId() });
          await handler.handle(event, ctx);
        },
        extractTraceContext(event),
      );
      return { status: 204 };
    } catch (error) {
      const response = toErrorResponse(error);
      const level = response.status >= 500 ? 'error' : 'warn';
      ctx.logger[level]({ status: response.status, err: response.message, attempt: ctx.attempt }, 'handler failed');
      return { status: response.status, error: response.code, message: response.message };
    }
  }

  async function deliver(req: Request, res: Response): Promise<void> {
    const message: HttpMessage = { headers: req.headers, body: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0) };
    if (handler.acceptsBatches && isBatchMode(message)) {
      await deliverBatch(message, res);
      return;
    }
    let event: WireEvent;
    try {
      event = toIncomingEvent(message);
    } catch (error) {
      reply(res, refuse(error));
      return;
    }
    reply(res, await handleEvent(event));
  }

  /** 204 with no body, or the status with the error body that names the reason. */
  function reply(res: Response, outcome: Outcome): void {
    if (outcome.status === 204) res.status(204).end();
    else res.status(outcome.status).json({ error: outcome.error, message: outcome.message });
  }

  /**
   * A batch: each event is handled as if it had come alone (concurrently: a batching stage does
   * not care about order), and the answer lists each one's outcome in request order. 200 when
   * every event was handled, 207 when some were not; the source settles each event by its own
   * status. A body that is not a batch at all is refused as a whole.
   */
  async function deliverBatch(message: HttpMessage, res: Response): Promise<void> {
    let elements;
    try {
      elements = toIncomingBatch(message);
    } catch (error) {
      reply(res, refuse(error));
      return;
    }
    const results = await Promise.all(
      elements.map(async (element) => ('event' in element ? { id: element.event.id, ...(await handleEvent(element.event)) } : refuse(element.error))),
    );
    const failed = results.flatMap((result, index) => (result.status >= 300 ? [{ index, ...result }] : []));
    if (failed.length === 0) {
      res.status(200).json({ results });
      return;
    }
    const first = failed[0]!;
    res.status(207).json({
      results,
      message: `${failed.length} of ${results.length} events not handled; event ${first.index}: ${first.status} ${first.message ?? ''}`.trim(),
    });
  }

  // Body parser errors (oversized, aborted) arrive here: answer with their status, not 500.
  app.use((error: unknown, _req: Request, res: Response, _next: express.NextFunction) => {
    const response = toRequestErrorResponse(error);
    res.status(response.status).json({ error: response.code, message: response.message });
  });

  return {
    app,
    listen: (port, host) => lifecycle.listen(app, port, host),
    drain: (timeoutMs) => lifecycle.drain(timeoutMs),
    inFlight: () => lifecycle.inFlight(),
  };
}
