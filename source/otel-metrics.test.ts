import { describe, expect, it } from 'vitest';
import { MeterProvider, MetricReader, type DataPoint } from '@opentelemetry/sdk-metrics';
import { CONSUMERS } from '../shared/contract';
import { createSourceOtelMetrics } from './otel-metrics';

class TestReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

describe("the source's messaging metrics", () => {
  it('are absent when metrics are off', () => {
    expect(createSourceOtelMetrics(undefined, CONSUMERS.worker, () => ({}))).toBeUndefined();
  });

  it('count consumed messages (settled, from the source\'s own counts) and time their processing under the messaging conventions, with error.type when not acked', async () => {
    const reader = new TestReader();
    const [high] = CONSUMERS.worker;
    const outcomes = { [high!.durable]: { ack: 1, retry: 1, deadletter: 0, abandoned: 0 } };
    const metrics = createSourceOtelMetrics(new MeterProvider({ readers: [reader] }).getMeter('test'), CONSUMERS.worker, () => outcomes)!;
    metrics.processed(high!, 'ack', 0.02);
    metrics.processed(high!, 'retry', 0.5);
    const { resourceMetrics } = await reader.collect();
    const byName = new Map(resourceMetrics.scopeMetrics[0]!.metrics.map((metric) => [metric.descriptor.name, metric.dataPoints as DataPoint<unknown>[]]));
    expect(byName.get('messaging.client.consumed.messages')!.map((p) => [p.attributes, p.value])).toEqual([
      [{ 'messaging.system': 'nats', 'messaging.operation.name': 'process', 'messaging.destination.name': high!.filterSubject, 'messaging.consumer.group.name': high!.durable }, 2],
    ]);
    const settled = byName.get('messaging.process.duration')!.map((p) => [p.attributes['taskmanager.outcome'], p.attributes['error.type']]);
    expect(settled).toEqual([
      ['ack', undefined],
      ['retry', 'retry'],
    ]);
  });
});
