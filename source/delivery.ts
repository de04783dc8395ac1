// Delivers one pulled JetStream message to the sink and settles it (docs/design.md §6).
// Takes: a PulledMessage (a structured CloudEvent on TASKS or EVENTS).
// Does: POSTs it in binary mode (ce-* headers, body = data) with the extension attributes
//   `deliveryattempt` (JetStream's delivery count) and `maxdeliver` (when limited), inside a CONSUMER span whose
//   parent is the event's traceparent; the function's span becomes its child via ce-traceparent.
// Settles as Knative's data plane does: 2xx → +ACK; 404/408/409/429/5xx, timeouts and
//   connection errors → -NAK with the contract's delay for that attempt; 400 and every other 4xx
//   (and bytes that are not a CloudEvent, or attributes that cannot be sent as headers) → give
//   up. A retryable failure on the last allowed attempt also gives up; records on EVENTS (status,
//   audit, dead letters) have no last attempt (contract `toMaxDeliver`): they wait for their stage.
// Giving up (give-up.ts): a dead letter, plus a FAILED status for a task event, then +TERM.
//
// Batch mode (order-insensitive stages: notifier, audit): with a batch poster, each delivery's
// event travels in a CloudEvents batch request shared with other deliveries in flight
// (batch-poster.ts); everything else here (span, attempt, verdict, settlement) stays per message.
import { MAX_DELAY_MS, retryDelayMs, toMaxDeliver, type FlowSettings } from '../shared/contract';
import { createEmitter } from '../shared/emit';
import { describeError, isTaskmanagerError } from '../shared/errors';
import { parseWireEvent, type WireEvent } from '../shared/events';
import { lazyChild, type Logger } from '../shared/logger';
import type { Publisher } from '../shared/nats';
import { toBinaryHeaders } from '../shared/runtime/http-message';
import { extractTraceContext, injectTraceContext, SpanKind, withSpan } from '../shared/tracing';
import type { Acks } from './acks';
import type { BatchPoster } from './batch-poster';
import { giveUp, type GiveUpDeps } from './give-up';
import type { Poster } from '../shared/http-poster';
import type { OutcomeKind, SourceMetrics } from './metrics';
import type { SourceOtelMetrics } from './otel-metrics';
import type { PulledMessage } from './pull-feed';

export type Verdict = 'ack' | 'retry' | 'deadletter';

/** Knative data-plane semantics of a sink's HTTP status. */
export function classifyResponse(status: number): Verdict {
  if (status >= 200 && status < 300) return 'ack';
  if (status === 404 || status === 408 || status === 409 || status === 429 || status >= 500) return 'retry';
  if (status >= 400) return 'deadletter';
  // 1xx/3xx are not answers a CloudEvents sink gives: treat as transient.
  return 'retry';
}

/** A request that got no HTTP answer: timeouts and connection errors are retried; a request
 * that can never be sent (a header value with CR/LF, say) is not. */
export function classifyError(error: unknown): Verdict {
  if (isTaskmanagerError(error)) return error.retryable ? 'retry' : 'deadletter';
  if (error instanceof TypeError && /invalid header|bytestring/i.test(error.message)) return 'deadletter';
  return 'retry';
}

const CONNECTION_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host lookup failed',
  ETIMEDOUT: 'connect timed out',
  EHOSTUNREACH: 'host unreachable',
};

/** A short reason for a failed request, for logs and dead letters. */
export function describeFailure(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return `no answer within ${timeoutMs} ms`;
  }
  const own = (error as { code?: unknown } | null)?.code;
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  const code = typeof own === 'string' ? own : typeof cause?.code === 'string' ? cause.code : undefined;
  if (code) return `${CONNECTION_ERRORS[code] ?? describeError(cause ?? error)} (${code})`;
  if (cause && typeof cause.message === 'string') return `${describeError(error)}: ${cause.message}`;
  return describeError(error);
}

/** `400 VALIDATION_FAILED: payload.ms must be a number` from the runtime's JSON error body. */
export function toResponseDetail(status: number, statusText: string, body: string): string {
  let code = '';
  let message = body.trim();
  // Only an object can be the runtime's error body; parsing anything else (the empty body of
  // every 204) would throw, and building that exception cost a share of each delivery's CPU.
  if (message.startsWith('{')) {
    try {
      const parsed = JSON.parse(message) as { error?: unknown; message?: unknown } | null;
      if (typeof parsed?.message === 'string') message = parsed.message;
      if (typeof parsed?.error === 'string') code = parsed.error;
    } catch {
      // not JSON: the text itself is the message
    }
  }
  if (message.length > 500) message = `${message.slice(0, 500)}…`;
  const head = [String(status), code || statusText].filter(Boolean).join(' ');
  return message ? `${head}: ${message}` : head;
}

/**
 * The wait a stage asked for in its error answer (`retryAfterMs`, e.g. the worker's per-type
 * retry schedule), or undefined: then the source's own schedule applies. Only a body that starts
 * like the runtime's JSON error body is parsed.
 */
export function toRetryAfterMs(body: string): number | undefined {
  if (!body.includes('"retryAfterMs"')) return undefined;
  try {
    const value = (JSON.parse(body) as { retryAfterMs?: unknown } | null)?.retryAfterMs;
    return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_DELAY_MS ? value : undefined;
  } catch {
    return undefined;
  }
}

export type Decision = { action: 'ack' } | { action: 'retry'; delayMs: number } | { action: 'giveup' };

/** What to do with a message after a delivery with this verdict on this (1-based) attempt;
 * `maxDeliver` is the consumer's (contract `toMaxDeliver`), -1 for no limit; `askedDelayMs` is
 * the stage's own wait for this retry, when it named one. */
export function decide(verdict: Verdict, attempt: number, flow: FlowSettings, maxDeliver = flow.maxDeliver, askedDelayMs?: number): Decision {
  if (verdict === 'ack') return { action: 'ack' };
  if (verdict === 'retry' && (maxDeliver < 0 || attempt < maxDeliver)) {
    return { action: 'retry', delayMs: askedDelayMs ?? retryDelayMs(flow, attempt) };
  }
  return { action: 'giveup' };
}

/** A delivery's event as one element of a batch (structured mode): the event's attributes with
 * this delivery's attempt (and attempt limit), as the binary headers would carry them. */
export function toBatchedEvent(event: WireEvent, attempt: number, maxDeliver: number): Record<string, unknown> {
  // One copy per delivery (a rest and a spread made two).
  const batched: Record<string, unknown> = { ...event, deliveryattempt: String(attempt) };
  if (maxDeliver > 0) batched.maxdeliver = String(maxDeliver);
  else if (batched.maxdeliver !== undefined) delete batched.maxdeliver;
  return batched;
}

/** Binary-mode headers of a delivery: the event's attributes plus the delivery attempt (and the
 * attempt limit, when there is one). */
export function toDeliveryHeaders(event: WireEvent, attempt: number, maxDeliver: number): Record<string, string> {
  const { deliveryattempt: _attempt, maxdeliver: _max, ...attributes } = event;
  const headers = toBinaryHeaders(attributes as WireEvent);
  if (typeof event.data_base64 === 'string') {
    headers['content-type'] = typeof event.datacontenttype === 'string' ? event.datacontenttype : 'application/octet-stream';
  }
  headers['ce-deliveryattempt'] = String(attempt);
  if (maxDeliver > 0) headers['ce-maxdeliver'] = String(maxDeliver);
  return headers;
}

function toDeliveryBody(event: WireEvent): string | Buffer | undefined {
  if (typeof event.data_base64 === 'string') return Buffer.from(event.data_base64, 'base64');
  return event.data === undefined ? undefined : JSON.stringify(event.data);
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const LINE_BREAK_OR_NUL = /[\0\n\r]/;
// eslint-disable-next-line no-control-regex
const BEYOND_LATIN1 = /[^\u0000-\u00ff]/;

/** Why these headers cannot go on the wire (undefined when they can). */
export function findUnsendableHeader(headers: Record<string, string>): string | undefined {
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name)) return `"${name}" is not a valid HTTP header name`;
    if (LINE_BREAK_OR_NUL.test(value)) return `header ${name} contains a line break or NUL`;
    if (BEYOND_LATIN1.test(value)) return `header ${name} has characters outside ISO-8859-1`;
  }
  return undefined;
}

export type DelivererDeps = {
  functionName: string;
  sink: string;
  requestTimeoutMs: number;
  flow: FlowSettings;
  acks: Pick<Acks, 'ack' | 'nak' | 'term'>;
  publisher: Publisher;
  /** Keep-alive HTTP to the sink (http-poster.ts). */
  poster: Pick<Poster, 'post'>;
  now: () => number;
  logger: Logger;
  metrics: Pick<SourceMetrics, 'recordDelivery' | 'recordOutcome'>;
  /** OpenTelemetry's messaging metrics; absent when metrics are off (shared/metrics.ts). */
  otel?: SourceOtelMetrics | undefined;
  /** First pause between attempts to publish a dead letter while NATS is unavailable. */
  publishRetryMs?: number;
  /** Batch mode: events go to the sink in shared CloudEvents batch requests. */
  batch?: BatchPoster;
};

export type Deliverer = {
  /** Delivers and settles one message; never throws. `abandon` fires when shutdown gives up. */
  deliver(message: PulledMessage, abandon: AbortSignal): Promise<OutcomeKind>;
};

type PostResult =
  | { kind: 'answered'; verdict: Verdict; detail: string; retryAfterMs?: number | undefined }
  | { kind: 'failed'; verdict: Verdict; detail: string }
  | { kind: 'abandoned' };

/** What every step reads, built once per deliverer: each step is a module function over it, so
 * it can be read apart, and a delivery allocates nothing more than the steps did as closures. */
type DeliveryContext = Readonly<{ deps: DelivererDeps; giveUp: GiveUpDeps }>;

export function createDeliverer(deps: DelivererDeps): Deliverer {
  const ctx: DeliveryContext = {
    deps,
    giveUp: {
      functionName: deps.functionName,
      stage: `source:${deps.functionName}`,
      acks: deps.acks,
      emit: createEmitter(deps.publisher, `source-${deps.functionName}`, deps.now),
      now: deps.now,
      publishRetryMs: deps.publishRetryMs ?? 250,
    },
  };
  return { deliver: (message, abandon) => deliver(ctx, message, abandon) };
}

async function deliver(ctx: DeliveryContext, message: PulledMessage, abandon: AbortSignal): Promise<OutcomeKind> {
  const { deps } = ctx;
  const logger = lazyChild(deps.logger, {
    consumer: message.consumer.durable,
    streamSeq: message.streamSequence,
    attempt: message.deliveryCount,
  });
  const otel = deps.otel;
  const startedAt = otel ? performance.now() : 0;
  let outcome: OutcomeKind;
  try {
    outcome = await handle(ctx, message, abandon, logger);
  } catch (error) {
    // A bug, not a delivery failure: leave the message to AckWait redelivery.
    logger.error({ err: describeError(error) }, 'delivery crashed');
    outcome = 'abandoned';
  }
  deps.metrics.recordOutcome(message.consumer, outcome);
  otel?.processed(message.consumer, outcome, (performance.now() - startedAt) / 1000);
  return outcome;
}

/** Parses the event and delivers it inside a CONSUMER span whose parent is its traceparent. */
async function handle(ctx: DeliveryContext, message: PulledMessage, abandon: AbortSignal, logger: Logger): Promise<OutcomeKind> {
  let event: WireEvent;
  try {
    event = parseWireEvent(message.data);
  } catch (error) {
    const problem = describeError(error);
    const reason = `${message.consumer.stream} #${message.streamSequence} is not a valid CloudEvent: ${problem}`;
    return giveUp(ctx.giveUp, message, { event: undefined, reason, lastError: problem }, abandon, logger);
  }
  const eventLogger = lazyChild(logger, { taskId: event.subject, eventId: event.id, eventType: event.type });
  // Built only for a span that records them (none without an exporter).
  const attributes = () => ({
    'messaging.system': 'nats',
    'messaging.destination.name': message.consumer.filterSubject,
    'messaging.consumer.group.name': message.consumer.durable,
    'cloudevents.event_id': event.id,
    'cloudevents.event_type': event.type,
    'taskmanager.task_id': event.subject ?? '',
    'taskmanager.delivery_attempt': message.deliveryCount,
  });
  return withSpan(
    `deliver ${event.type}`,
    SpanKind.CONSUMER,
    attributes,
    () => postAndSettle(ctx, message, event, abandon, eventLogger),
    extractTraceContext(event),
  );
}

/** Posts the event and settles the message by the answer: ack, nak with a delay, or give up. */
async function postAndSettle(
  ctx: DeliveryContext,
  message: PulledMessage,
  event: WireEvent,
  abandon: AbortSignal,
  logger: Logger,
): Promise<OutcomeKind> {
  const { deps } = ctx;
  const { functionName } = deps;
  const result = await post(deps, message, event, abandon);
  if (result.kind === 'abandoned') return 'abandoned';
  const attempt = message.deliveryCount;
  const askedDelayMs = result.kind === 'answered' ? result.retryAfterMs : undefined;
  const decision = decide(result.verdict, attempt, deps.flow, toMaxDeliver(message.consumer, deps.flow), askedDelayMs);
  if (decision.action === 'ack') {
    deps.acks.ack(message);
    return 'ack';
  }
  if (decision.action === 'retry') {
    logger.info({ detail: result.detail, delayMs: decision.delayMs }, 'delivery failed: retrying');
    deps.acks.nak(message, decision.delayMs);
    return 'retry';
  }
  const reason =
    result.verdict === 'retry'
      ? `undeliverable to ${functionName} after ${attempt} attempts: ${result.detail}`
      : result.kind === 'answered'
        ? `${functionName} refused the event: ${result.detail}`
        : `event cannot be delivered to ${functionName}: ${result.detail}`;
  return giveUp(ctx.giveUp, message, { event, reason, lastError: result.detail }, abandon, logger);
}

async function post(deps: DelivererDeps, message: PulledMessage, event: WireEvent, abandon: AbortSignal): Promise<PostResult> {
  // Inside the CONSUMER span: the sink's span is a child of this one.
  const traced = injectTraceContext(event);
  if (deps.batch && typeof event.data_base64 !== 'string') {
    const batched = await postInBatch(deps, deps.batch, message, traced, abandon);
    if (batched) return batched;
  }
  const headers = toDeliveryHeaders(traced, message.deliveryCount, toMaxDeliver(message.consumer, deps.flow));
  const unsendable = findUnsendableHeader(headers);
  if (unsendable) return { kind: 'failed', verdict: 'deadletter', detail: `cannot be sent as HTTP headers: ${unsendable}` };
  deps.metrics.recordDelivery(message.consumer);
  try {
    const answer = await deps.poster.post({ headers, body: toDeliveryBody(event), timeoutMs: deps.requestTimeoutMs, signal: abandon });
    return {
      kind: 'answered',
      verdict: classifyResponse(answer.status),
      detail: toResponseDetail(answer.status, answer.statusText, answer.body),
      retryAfterMs: toRetryAfterMs(answer.body),
    };
  } catch (error) {
    if (abandon.aborted) return { kind: 'abandoned' };
    return { kind: 'failed', verdict: classifyError(error), detail: describeFailure(error, deps.requestTimeoutMs) };
  }
}

/** Batch mode; undefined when the stage answered the batch as a whole (deliver it alone). */
async function postInBatch(
  deps: DelivererDeps,
  batch: BatchPoster,
  message: PulledMessage,
  traced: WireEvent,
  abandon: AbortSignal,
): Promise<PostResult | undefined> {
  const json = JSON.stringify(toBatchedEvent(traced, message.deliveryCount, toMaxDeliver(message.consumer, deps.flow)));
  const outcome = await batch.post(json, abandon);
  if (outcome.kind !== 'unbatched') deps.metrics.recordDelivery(message.consumer);
  if (outcome.kind === 'answered') {
    return {
      kind: 'answered',
      verdict: classifyResponse(outcome.status),
      detail: toResponseDetail(outcome.status, '', outcome.body),
      retryAfterMs: toRetryAfterMs(outcome.body),
    };
  }
  if (outcome.kind === 'abandoned' || abandon.aborted) return { kind: 'abandoned' };
  if (outcome.kind === 'failed') {
    return { kind: 'failed', verdict: classifyError(outcome.error), detail: describeFailure(outcome.error, deps.requestTimeoutMs) };
  }
  return undefined;
}
