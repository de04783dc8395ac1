// The CloudEvents function runtime, written once for every stage: node:http with a small router,
// binary, structured and batch mode, one validation per event, error → status mapping (Knative
// data-plane semantics), health endpoints, body size limit and drain on shutdown. A stage
// supplies only `handle`.
import type { Server } from 'node:http';
import { UnsupportedEventError } from '../errors';
import type { WireEvent } from '../events';
import { lazyChild, type Logger } from '../logger';
import { extractTraceContext, SpanKind, withSpan, currentTraceId } from '../tracing';
import { createDrainableServer } from './drainable-server';
import { toErrorResponse } from './error-response';
import { readBodyOrRefuse } from './http-body';
import { isBatchMode, toIncomingBatch, toIncomingEvent, type HttpMessage } from './http-message';
import { createRouter, type RouteResponse, type Router } from './http-router';

export { toErrorResponse, toRequestErrorResponse } from './error-response';

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
  /** The routes: POST / and the health probes; a stage may add its own (FunctionDefinition.routes). */
  router: Router;
  listen(port: number, host: string): Promise<Server>;
  /** Stops taking events (readiness fails, new requests get 503), waits for in-flight ones. */
  drain(timeoutMs: number): Promise<void>;
  inFlight(): number;
};

function toPositiveInt(value: unknown): number | undefined {
  const parsed = typeof value === 'string' ? Number(value) : typeof value === 'number' ? value : NaN;
  return Number.isInteger(parsed) && parsed > 0 ? parsed : undefined;
}

export function createFunctionApp(options: FunctionAppOptions): FunctionApp {
  const router = createRouter();
  const lifecycle = createDrainableServer();
  lifecycle.addHealthRoutes(router, options.isReady);

  router.post(
    '/',
    lifecycle.refuseWhileDraining(options.component, async (req, res) => {
      const body = await readBodyOrRefuse(req, res, options.bodyLimitBytes);
      if (body) await deliver(options, { headers: req.headers, body }, res);
    }),
  );

  return {
    router,
    listen: (port, host) => lifecycle.listen(router, port, host),
    drain: (timeoutMs) => lifecycle.drain(timeoutMs),
    inFlight: () => lifecycle.inFlight(),
  };
}

// The steps of a POST /, as module functions over the app's options: each reads on its own, and
// a request allocates nothing more than when they were closures inside createFunctionApp.

/** What one event's delivery came to: 204, or the status and error body it is refused with. */
type Outcome = { status: number; error?: string; message?: string; retryAfterMs?: number };

type EventOptions = Pick<FunctionAppOptions, 'component' | 'handler' | 'logger'>;

async function deliver(options: EventOptions, message: HttpMessage, res: RouteResponse): Promise<void> {
  if (options.handler.acceptsBatches && isBatchMode(message)) {
    await deliverBatch(options, message, res);
    return;
  }
  let event: WireEvent;
  try {
    event = toIncomingEvent(message);
  } catch (error) {
    reply(res, refuse(options.logger, error));
    return;
  }
  reply(res, await handleEvent(options, event));
}

function refuse(logger: Logger, error: unknown): Outcome {
  const response = toErrorResponse(error);
  logger.warn({ status: response.status, reason: response.message }, 'refused event');
  return { status: response.status, error: response.code, message: response.message };
}

async function handleEvent({ component, handler, logger }: EventOptions, event: WireEvent): Promise<Outcome> {
  if (!handler.acceptedTypes.includes(event.type)) {
    return refuse(
      logger,
      new UnsupportedEventError(`unsupported event type "${event.type}": ${component} accepts ${handler.acceptedTypes.join(', ')}`),
    );
  }
  const ctx: HandlerContext = {
    attempt: toPositiveInt(event.deliveryattempt) ?? 1,
    maxDeliver: toPositiveInt(event.maxdeliver),
    logger,
  };
  try {
    await withSpan(
      `handle ${event.type}`,
      SpanKind.CONSUMER,
      { 'cloudevents.event_id': event.id, 'cloudevents.event_type': event.type, 'taskmanager.task_id': event.subject ?? '' },
      async () => {
        // One child per event (the logger serialises its bindings once), made inside the span so it
        // carries the trace id.
        ctx.logger = lazyChild(logger, { taskId: event.subject, eventId: event.id, eventType: event.type, traceId: currentTraceId() });
        await handler.handle(event, ctx);
      },
      extractTraceContext(event),
    );
    return { status: 204 };
  } catch (error) {
    const response = toErrorResponse(error);
    const level = response.status >= 500 ? 'error' : 'warn';
    ctx.logger[level]({ status: response.status, err: response.message, attempt: ctx.attempt }, 'handler failed');
    return { status: response.status, error: response.code, message: response.message, retryAfterMs: response.retryAfterMs };
  }
}

/** 204 with no body, or the status with the error body that names the reason. */
function reply(res: RouteResponse, outcome: Outcome): void {
  if (outcome.status === 204) res.status(204).end();
  else res.status(outcome.status).json({ error: outcome.error, message: outcome.message, retryAfterMs: outcome.retryAfterMs });
}

/**
 * A batch: each event is handled as if it had come alone (concurrently: a batching stage does
 * not care about order), and the answer lists each one's outcome in request order. 200 when
 * every event was handled, 207 when some were not; the source settles each event by its own
 * status. A body that is not a batch at all is refused as a whole.
 */
async function deliverBatch(options: EventOptions, message: HttpMessage, res: RouteResponse): Promise<void> {
  let elements;
  try {
    elements = toIncomingBatch(message);
  } catch (error) {
    reply(res, refuse(options.logger, error));
    return;
  }
  const results = await Promise.all(
    elements.map(async (element) =>
      'event' in element ? { id: element.event.id, ...(await handleEvent(options, element.event)) } : refuse(options.logger, element.error),
    ),
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
