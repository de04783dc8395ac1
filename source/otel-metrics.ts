// The source's deliveries through OpenTelemetry, when metrics are on (shared/metrics.ts), beside
// its hand-written /metrics counters (metrics.ts): messages consumed and the time each took to
// process, under OpenTelemetry's semantic conventions for messaging (`messaging.client.consumed.
// messages`, `messaging.process.duration`), with how each was settled.
//
// The consumed count is observed at scrape time from the outcome counts the source keeps anyway
// (every message delivered is settled once: ack, retry, deadletter or abandoned), so a message
// costs one SDK recording, the duration, not two.
import type { Attributes, Meter } from '@opentelemetry/api';
import type { ConsumerSpec } from '../shared/contract';
import { DURATION_BUCKETS_S } from '../shared/metrics';
import type { OutcomeKind } from './metrics';

export type SourceOtelMetrics = {
  processed(consumer: ConsumerSpec, outcome: OutcomeKind, seconds: number): void;
};

/** Settled messages so far, by durable and outcome (metrics.ts MetricsSnapshot['outcomes']). */
export type ReadOutcomes = () => Readonly<Record<string, Readonly<Record<OutcomeKind, number>>>>;

function toAttributes(consumer: ConsumerSpec): Attributes {
  return {
    'messaging.system': 'nats',
    'messaging.operation.name': 'process',
    'messaging.destination.name': consumer.filterSubject,
    'messaging.consumer.group.name': consumer.durable,
  };
}

export function createSourceOtelMetrics(meter: Meter | undefined, consumers: readonly ConsumerSpec[], readOutcomes: ReadOutcomes): SourceOtelMetrics | undefined {
  if (!meter) return undefined;
  const consumed = meter.createObservableCounter('messaging.client.consumed.messages', {
    unit: '{message}',
    description: 'Messages the source pulled and delivered to its function (counted once settled).',
  });
  const duration = meter.createHistogram('messaging.process.duration', {
    unit: 's',
    description: 'Time from a message reaching the source to its settlement (delivery, answer and ack, nak or dead letter).',
    advice: { explicitBucketBoundaries: DURATION_BUCKETS_S },
  });
  // Attribute sets built once per consumer, not per message.
  const base = new Map(consumers.map((consumer) => [consumer.durable, toAttributes(consumer)]));
  const settled = new Map<string, Attributes>();
  const attributesOf = (consumer: ConsumerSpec) => base.get(consumer.durable) ?? toAttributes(consumer);
  consumed.addCallback((result) => {
    const outcomes = readOutcomes();
    for (const consumer of consumers) {
      const counts = outcomes[consumer.durable];
      if (counts) result.observe(counts.ack + counts.retry + counts.deadletter + counts.abandoned, attributesOf(consumer));
    }
  });
  return {
    processed(consumer, outcome, seconds) {
      const key = `${consumer.durable}\u0000${outcome}`;
      let attributes = settled.get(key);
      if (!attributes) {
        // error.type as the conventions ask for a message not processed successfully.
        attributes = { ...attributesOf(consumer), 'taskmanager.outcome': outcome, ...(outcome === 'ack' ? {} : { 'error.type': outcome }) };
        settled.set(key, attributes);
      }
      duration.record(seconds, attributes);
    },
  };
}
