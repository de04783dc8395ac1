// The source's CONSUMER span continues the event's trace, and the sink sees that span as parent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { CONSUMERS, DEFAULT_FLOW_SETTINGS, EVENT_TYPES } from '../shared/contract';
import { createEvent, toWireBytes } from '../shared/events';
import { createLogger } from '../shared/logger';
import { createDeliverer } from './delivery';
import { createSourceMetrics } from './metrics';
import { waitFor } from '../test/helpers/ports';

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const PARENT_SPAN_ID = 'b7ad6b7169203331';

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

beforeAll(() => provider.register());
afterAll(() => provider.shutdown());

describe('trace propagation', () => {
  it('delivers with ce-traceparent pointing at the source CONSUMER span, child of the event trace', async () => {
    const headers: Record<string, string>[] = [];
    const deliverer = createDeliverer({
      functionName: 'worker',
      sink: 'http://sink.test/',
      requestTimeoutMs: 1000,
      flow: DEFAULT_FLOW_SETTINGS,
      acks: { ack: () => undefined, nak: () => undefined, term: () => undefined },
      publisher: { publish: async () => undefined },
      poster: {
        post: async (request) => {
          headers.push(request.headers);
          return { status: 204, statusText: 'No Content', body: '' };
        },
      },
      now: Date.now,
      logger: createLogger('test', 'silent'),
      metrics: createSourceMetrics(CONSUMERS.worker),
    });
    const event = {
      ...createEvent({ id: 'e-1', component: 'scheduler', type: EVENT_TYPES.scheduled, taskId: 't-1', data: {} }),
      traceparent: `00-${TRACE_ID}-${PARENT_SPAN_ID}-01`,
    };
    const message = {
      consumer: CONSUMERS.worker[0],
      priority: 0,
      data: toWireBytes(event),
      ackSubject: '$JS.ACK.TASKS.worker-high.1.1.1.1.0',
      deliveryCount: 1,
      streamSequence: 1,
    };

    expect(await deliverer.deliver(message, new AbortController().signal)).toBe('ack');

    const [, traceId, spanId] = (headers[0]?.['ce-traceparent'] ?? '').split('-');
    expect(traceId).toBe(TRACE_ID);
    const span = await waitFor('the CONSUMER span to be exported', () =>
      exporter.getFinishedSpans().find((s) => s.name === `deliver ${EVENT_TYPES.scheduled}`),
    );
    expect(span.spanContext().traceId).toBe(TRACE_ID);
    expect(span.parentSpanContext?.spanId).toBe(PARENT_SPAN_ID);
    expect(spanId).toBe(span.spanContext().spanId);
  });
});
