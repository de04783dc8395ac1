// Trace context helpers over @opentelemetry/api only (the SDK starts in telemetry-bootstrap).
// The W3C trace context rides in the CloudEvents distributed-tracing extension attributes
// `traceparent`/`tracestate`, so one task is one trace across every asynchronous hop.
import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type ProxyTracerProvider,
} from '@opentelemetry/api';
import { RECORDS_NOTHING } from './records-nothing';
import { waitAtMost } from './wait-at-most';

export const tracer = trace.getTracer('taskmanager');

type Carrier = { traceparent?: string; tracestate?: string };

/** A copy of the event carrying the active trace context (the event itself when none is active,
 * or when it carries that context already, as a forwarded trace does: see runUnrecorded). */
export function injectTraceContext<T extends Carrier>(event: T): T {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  if (!carrier.traceparent) return event;
  if (carrier.traceparent === event.traceparent && carrier.tracestate === event.tracestate) return event;
  const traced: T = { ...event, traceparent: carrier.traceparent };
  if (carrier.tracestate) traced.tracestate = carrier.tracestate;
  return traced;
}

export function extractTraceContext(event: Carrier, base: Context = context.active()): Context {
  const carrier: Record<string, string> = {};
  if (typeof event.traceparent === 'string') carrier.traceparent = event.traceparent;
  if (typeof event.tracestate === 'string') carrier.tracestate = event.tracestate;
  return propagation.extract(base, carrier);
}

/** Runs `fn` in a new span (child of `parent`, or of the active context) and ends it. In a process
 * that records nothing, only a root gets a span (see runUnrecorded). `attributes` may be a function:
 * then they are built only for a span that records them. */
export function withSpan<T>(
  name: string,
  kind: SpanKind,
  attributes: Attributes | (() => Attributes),
  fn: () => Promise<T>,
  parent: Context = context.active(),
): Promise<T> {
  if (recordsNothing()) return runUnrecorded(name, kind, fn, parent);
  return withRecordedSpan(name, kind, attributes, fn, parent);
}

/** Whether this process's tracer is telemetry-light's, which records nothing (no exporter). */
function recordsNothing(): boolean {
  const provider = trace.getTracerProvider() as Partial<ProxyTracerProvider>;
  const registered = (provider.getDelegate?.() ?? provider) as { [RECORDS_NOTHING]?: boolean };
  return registered[RECORDS_NOTHING] === true;
}

/**
 * With nothing recorded, a span under a parent would be an id that no one ever sees: `fn` runs in
 * the parent's context instead, and what it publishes carries the parent's traceparent on
 * unchanged. W3C Trace Context calls this forwarding a trace, the least a participant must do.
 * The trace id still reaches every event and log line. Only a root gets a span, which starts the
 * task's trace. This saves a span id, a span object and a context for every delivery, handler and
 * publish: about 33 per echo task (docs/performance.md has what that was measured to be worth).
 */
function runUnrecorded<T>(name: string, kind: SpanKind, fn: () => Promise<T>, parent: Context): Promise<T> {
  try {
    if (trace.getSpan(parent)) return parent === context.active() ? fn() : context.with(parent, fn);
    return context.with(trace.setSpan(parent, tracer.startSpan(name, { kind }, parent)), fn);
  } catch (error) {
    return Promise.reject(error);
  }
}

async function withRecordedSpan<T>(
  name: string,
  kind: SpanKind,
  attributes: Attributes | (() => Attributes),
  fn: () => Promise<T>,
  parent: Context,
): Promise<T> {
  const span = tracer.startSpan(name, { kind, attributes: typeof attributes === 'function' ? attributes() : attributes }, parent);
  try {
    return await context.with(trace.setSpan(parent, span), fn);
  } catch (error) {
    span.recordException(error as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
    throw error;
  } finally {
    span.end();
  }
}

export function currentTraceId(): string | undefined {
  return trace.getSpan(context.active())?.spanContext().traceId;
}

export { SpanKind };

const FLUSH_HOOK = Symbol.for('taskmanager.telemetry.shutdown');

/** How long a stopping process waits for its last spans and metrics to be exported. The OTLP
 * exporter's own timeout is 10 s per export: with the Collector unreachable, a stop would wait
 * that long (the gateway took 9 s to stop in compose without a Collector). */
export const TELEMETRY_FLUSH_TIMEOUT_MS = 2_000;

/** Flushes and stops the SDK started by the bootstrap (a no-op when none was loaded), giving up
 * after `timeoutMs`: what is not exported by then is lost, which a stop can afford. */
export async function flushTelemetry(timeoutMs = TELEMETRY_FLUSH_TIMEOUT_MS): Promise<void> {
  const hook = (globalThis as Record<symbol, unknown>)[FLUSH_HOOK];
  if (typeof hook === 'function') await waitAtMost((hook as () => Promise<void>)(), timeoutMs);
}
