// Without an exporter: trace context still flows (one task, one trace id), nothing is recorded,
// and no span is made but at a root (shared/tracing.ts, runUnrecorded).
import { trace } from '@opentelemetry/api';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIdGenerator, isExportConfigured, isMetricsConfigured, registerPropagationOnly, unregisterPropagationOnly } from './telemetry-light';
import { currentTraceId, extractTraceContext, injectTraceContext, SpanKind, withSpan } from './tracing';

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const PARENT_SPAN_ID = 'b7ad6b7169203331';
const anEvent = (id: string): { id: string; traceparent?: string; tracestate?: string } => ({ id });
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

function fields(traceparent: string | undefined): { traceId: string; spanId: string; flags: string } {
  const match = TRACEPARENT.exec(traceparent ?? '');
  if (!match) throw new Error(`not a traceparent: ${traceparent}`);
  return { traceId: match[1]!, spanId: match[2]!, flags: match[3]! };
}

describe('propagation without the SDK', () => {
  beforeAll(() => registerPropagationOnly());
  afterAll(() => unregisterPropagationOnly());

  it('a root span starts a new trace, not sampled, that reaches the events published under it and the log lines', async () => {
    const seen = await withSpan('SubmitTask', SpanKind.SERVER, {}, async () => ({
      traceId: currentTraceId(),
      published: injectTraceContext(anEvent('e-1')),
      recording: trace.getActiveSpan()?.isRecording(),
    }));
    const published = fields(seen.published.traceparent);
    expect(seen.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(published).toMatchObject({ traceId: seen.traceId, flags: '00' });
    expect(seen.recording).toBe(false);
  });

  it('each root is another trace', async () => {
    const ids = await Promise.all([1, 2, 3].map(() => withSpan('root', SpanKind.SERVER, {}, async () => currentTraceId())));
    expect(new Set(ids).size).toBe(3);
  });

  it("under an event's traceparent no span is made: what is published carries the event's traceparent and tracestate on", async () => {
    const event = { traceparent: `00-${TRACE_ID}-${PARENT_SPAN_ID}-01`, tracestate: 'vendor=x' };
    const onward = await withSpan('handle', SpanKind.CONSUMER, {}, async () => {
      await sleep(1); // across an asynchronous hop
      return withSpan('publish', SpanKind.PRODUCER, {}, async () => ({
        published: injectTraceContext(anEvent('e-2')),
        traceId: currentTraceId(),
        recording: trace.getActiveSpan()?.isRecording(),
      }));
    }, extractTraceContext(event));
    expect(fields(onward.published.traceparent)).toEqual({ traceId: TRACE_ID, spanId: PARENT_SPAN_ID, flags: '01' });
    expect(onward.published.tracestate).toBe('vendor=x');
    expect(onward.traceId).toBe(TRACE_ID);
    expect(onward.recording).toBe(false);
  });

  it('an event that carries the active trace context already is passed on as it is; another is copied, not changed', async () => {
    const event = { id: 'e-6', traceparent: `00-${TRACE_ID}-${PARENT_SPAN_ID}-01`, tracestate: 'vendor=x' };
    const other = { id: 'e-7', traceparent: `00-${TRACE_ID}-${'c'.repeat(16)}-01` };
    const [same, copied] = await withSpan('deliver', SpanKind.CONSUMER, {}, async () => [injectTraceContext(event), injectTraceContext(other)], extractTraceContext(event));
    expect(same).toBe(event);
    expect(copied).not.toBe(other);
    expect(copied).toEqual({ id: 'e-7', traceparent: event.traceparent, tracestate: 'vendor=x' });
    expect(other.traceparent).toBe(`00-${TRACE_ID}-${'c'.repeat(16)}-01`);
  });

  it("a root's span is the parent of everything published under it, however deep", async () => {
    const seen = await withSpan('SubmitTask', SpanKind.SERVER, {}, async () => {
      const root = fields(injectTraceContext(anEvent('e-4')).traceparent);
      const nested = await withSpan('publish', SpanKind.PRODUCER, {}, async () => fields(injectTraceContext(anEvent('e-5')).traceparent));
      return { root, nested };
    });
    expect(seen.nested).toEqual(seen.root);
  });

  it('a span function that throws before its promise exists still makes a rejection, not a throw', async () => {
    const failing = (() => {
      throw new Error('at once');
    }) as unknown as () => Promise<void>;
    const run = () => withSpan('handle', SpanKind.CONSUMER, {}, failing, extractTraceContext({ traceparent: `00-${TRACE_ID}-${PARENT_SPAN_ID}-01` }));
    let outcome: Promise<void> | undefined;
    expect(() => {
      outcome = run();
    }).not.toThrow();
    await expect(outcome).rejects.toThrow('at once');
  });

  it.each([
    ['version ff', `ff-${TRACE_ID}-${PARENT_SPAN_ID}-01`],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${PARENT_SPAN_ID}-01`],
    ['an all-zero span id', `00-${TRACE_ID}-${'0'.repeat(16)}-01`],
    ['version 00 with a fifth field', `00-${TRACE_ID}-${PARENT_SPAN_ID}-01-extra`],
    ['upper-case hex', `00-${TRACE_ID.toUpperCase()}-${PARENT_SPAN_ID}-01`],
    ['garbage', 'not a traceparent'],
  ])('ignores a traceparent with %s: the span starts a trace of its own', async (_what, traceparent) => {
    const traceId = await withSpan('handle', SpanKind.CONSUMER, {}, async () => currentTraceId(), extractTraceContext({ traceparent }));
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(traceId).not.toBe(TRACE_ID);
  });

  it('reads a later version with more fields', async () => {
    const traceId = await withSpan('h', SpanKind.CONSUMER, {}, async () => currentTraceId(), extractTraceContext({ traceparent: `01-${TRACE_ID}-${PARENT_SPAN_ID}-01-more` }));
    expect(traceId).toBe(TRACE_ID);
  });

  it('outside any span there is no trace id and nothing to inject', () => {
    expect(currentTraceId()).toBeUndefined();
    expect(injectTraceContext(anEvent('e-3'))).toEqual(anEvent('e-3'));
  });
});

describe('ids', () => {
  it('are hex of the right length, and differ', () => {
    const ids = createIdGenerator();
    const spans = Array.from({ length: 1_000 }, () => ids.spanId());
    expect(spans.every((id) => /^[0-9a-f]{16}$/.test(id))).toBe(true);
    expect(new Set(spans).size).toBe(1_000);
    expect(ids.traceId()).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('isExportConfigured', () => {
  it.each<[Record<string, string>, boolean]>([
    [{}, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, true],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }, true],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: '' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'TRUE ' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'false' }, true],
  ])('%j → %s', (env, expected) => {
    expect(isExportConfigured(env)).toBe(expected);
  });
});

describe('isMetricsConfigured', () => {
  it.each([
    [{}, false],
    [{ TM_METRICS: '' }, false],
    [{ TM_METRICS: 'off' }, false],
    [{ TM_METRICS: 'prometheus' }, true],
    [{ TM_METRICS: ' Prometheus ' }, true],
    [{ TM_METRICS: 'prometheus', OTEL_SDK_DISABLED: 'true' }, false],
  ])('%j: %s', (env, on) => {
    expect(isMetricsConfigured(env)).toBe(on);
  });

  it('stops the start on a value it does not know, naming it', () => {
    expect(() => isMetricsConfigured({ TM_METRICS: 'otlp' })).toThrow(/TM_METRICS must be "prometheus" or "off", got "otlp"/);
  });
});
