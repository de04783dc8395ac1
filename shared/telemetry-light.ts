// Trace context without the OpenTelemetry SDK, for processes that export no traces (no
// OTEL_EXPORTER_OTLP_*ENDPOINT): one task must still be one trace id end to end, in events and in
// log lines, but nothing is recorded, so nothing needs the SDK (its load cost a cold start about
// 130 ms of CPU, and its instrumentations about 90 µs per request: docs/performance.md).
//
// Three small pieces over @opentelemetry/api, registered as its globals:
// - a context manager over AsyncLocalStorage (what the SDK's does, without patching emitters);
// - the W3C trace-context propagator (`traceparent`/`tracestate`);
// - a tracer whose spans record nothing: each is the parent's trace with a fresh span id, or a
//   fresh trace when there is no parent. The sampled flag follows the parent and is off at a root
//   (parent-based sampling with nothing sampled at the root: docs/design.md §6), so a process without an
//   exporter never asks the ones after it to record a trace that would lack its own spans.
//   shared/tracing.ts's withSpan asks for such a span only at a root: under a parent it makes none
//   (see RECORDS_NOTHING).
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  context,
  createTraceState,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  trace,
  TraceFlags,
  type Context,
  type ContextManager,
  type Span,
  type SpanContext,
  type SpanOptions,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { randomFillSync } from './lazy-crypto';
import { RECORDS_NOTHING } from './records-nothing';

export class AsyncLocalStorageContextManager implements ContextManager {
  private readonly storage = new AsyncLocalStorage<Context>();

  active(): Context {
    return this.storage.getStore() ?? ROOT_CONTEXT;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    const bound = thisArg === undefined ? fn : (fn.bind(thisArg) as F);
    return this.storage.run(ctx, bound, ...args);
  }

  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const run = (self: unknown, args: unknown[]) => this.storage.run(ctx, () => (target as (...a: unknown[]) => unknown).apply(self, args));
    return function (this: unknown, ...args: unknown[]) {
      return run(this, args);
    } as T;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.storage.disable();
    return this;
  }
}

const TRACEPARENT = /^\s?((?!ff)[\da-f]{2})-((?![0]{32})[\da-f]{32})-((?![0]{16})[\da-f]{16})-([\da-f]{2})(-.*)?\s?$/;

/** W3C Trace Context (https://www.w3.org/TR/trace-context/), as the SDK's propagator reads and writes it. */
export class W3CTraceContextPropagator implements TextMapPropagator {
  inject(ctx: Context, carrier: unknown, setter: TextMapSetter): void {
    const span = trace.getSpanContext(ctx);
    if (!span || !isSpanContextValid(span)) return;
    setter.set(carrier, 'traceparent', `00-${span.traceId}-${span.spanId}-0${Number(span.traceFlags || TraceFlags.NONE).toString(16)}`);
    if (span.traceState) setter.set(carrier, 'tracestate', span.traceState.serialize());
  }

  extract(ctx: Context, carrier: unknown, getter: TextMapGetter): Context {
    const header = getter.get(carrier, 'traceparent');
    const value = Array.isArray(header) ? header[0] : header;
    if (typeof value !== 'string') return ctx;
    const match = TRACEPARENT.exec(value);
    // Version 00 has exactly four fields; later versions may add more.
    if (!match || (match[1] === '00' && match[5])) return ctx;
    const parent: SpanContext = { traceId: match[2]!, spanId: match[3]!, traceFlags: parseInt(match[4]!, 16), isRemote: true };
    const state = getter.get(carrier, 'tracestate');
    if (state) parent.traceState = createTraceState(Array.isArray(state) ? state.join(',') : state);
    return trace.setSpanContext(ctx, parent);
  }

  fields(): string[] {
    return ['traceparent', 'tracestate'];
  }
}

const ZEROS: Record<number, string> = { 8: '0'.repeat(16), 16: '0'.repeat(32) };

/** Random ids from a pooled buffer: one getrandom call per 256 span ids, not one per span. */
export function createIdGenerator(): { traceId(): string; spanId(): string } {
  const pool = Buffer.alloc(2048);
  let offset = pool.length;
  const next = (bytes: number): string => {
    for (;;) {
      if (offset + bytes > pool.length) {
        randomFillSync(pool);
        offset = 0;
      }
      const id = pool.toString('hex', offset, offset + bytes);
      offset += bytes;
      // An id of all zeros is invalid; it comes up once in 2^64 draws, but then draw again.
      if (id !== ZEROS[bytes]) return id;
    }
  };
  return { traceId: () => next(16), spanId: () => next(8) };
}

/** Spans that record nothing but carry a trace: the parent's, or a new one at a root. */
export class PropagationOnlyTracer implements Tracer {
  private readonly ids = createIdGenerator();

  startSpan(_name: string, options: SpanOptions = {}, ctx: Context = context.active()): Span {
    const parent = options.root ? undefined : trace.getSpanContext(ctx);
    const span: SpanContext =
      parent && isSpanContextValid(parent)
        ? { traceId: parent.traceId, spanId: this.ids.spanId(), traceFlags: parent.traceFlags, ...(parent.traceState ? { traceState: parent.traceState } : {}) }
        : { traceId: this.ids.traceId(), spanId: this.ids.spanId(), traceFlags: TraceFlags.NONE };
    return trace.wrapSpanContext(span);
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, ...rest: unknown[]): ReturnType<F> {
    const fn = rest.pop() as F;
    const [options, ctx] = rest as [SpanOptions | undefined, Context | undefined];
    const parent = ctx ?? context.active();
    const span = this.startSpan(name, options, parent);
    return context.with(trace.setSpan(parent, span), () => fn(span)) as ReturnType<F>;
  }
}

export class PropagationOnlyTracerProvider implements TracerProvider {
  /** Tells withSpan (shared/tracing.ts) that nothing is recorded here. */
  readonly [RECORDS_NOTHING] = true;
  private readonly tracer = new PropagationOnlyTracer();

  getTracer(): Tracer {
    return this.tracer;
  }
}

/** Whether this process exports traces: an OTLP endpoint is set, and OTEL_SDK_DISABLED is not true. */
export function isExportConfigured(env: Readonly<Record<string, string | undefined>>): boolean {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  return Boolean(endpoint) && env.OTEL_SDK_DISABLED?.trim().toLowerCase() !== 'true';
}

/** Registers the three pieces as the API's globals (the bootstrap does, when no exporter is set). */
export function registerPropagationOnly(): void {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(new PropagationOnlyTracerProvider());
}

/** Undoes registerPropagationOnly (tests). */
export function unregisterPropagationOnly(): void {
  trace.disable();
  propagation.disable();
  context.disable();
}

/** Whether this process records metrics: TM_METRICS=prometheus (unset, empty or `off`: none of
 * the metrics SDK loads), and OTEL_SDK_DISABLED is not true. Any other value stops the start. */
export function isMetricsConfigured(env: Readonly<Record<string, string | undefined>>): boolean {
  const value = env.TM_METRICS?.trim().toLowerCase() ?? '';
  if (value === '' || value === 'off') return false;
  if (value !== 'prometheus') throw new Error(`TM_METRICS must be "prometheus" or "off", got ${JSON.stringify(env.TM_METRICS)}`);
  return env.OTEL_SDK_DISABLED?.trim().toLowerCase() !== 'true';
}
