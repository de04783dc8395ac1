// The source's counters and their Prometheus text rendering (no client library: a handful of
// series). Counters are recorded by the delivery code; gauges (in flight, held, lag) are read
// at scrape time or refreshed from consumer info.
import type { ConsumerSpec } from '../shared/contract';

export type OutcomeKind = 'ack' | 'retry' | 'deadletter' | 'abandoned';
export const OUTCOME_KINDS: readonly OutcomeKind[] = ['ack', 'retry', 'deadletter', 'abandoned'];

export type ConsumerLag = { pending: number; ackPending: number };

export type SourceMetrics = {
  recordDelivery(consumer: ConsumerSpec): void;
  recordOutcome(consumer: ConsumerSpec, kind: OutcomeKind): void;
  recordPullError(): void;
  setLag(consumer: ConsumerSpec, lag: ConsumerLag): void;
  snapshot(): MetricsSnapshot;
};

export type MetricsSnapshot = {
  deliveries: Record<string, number>;
  outcomes: Record<string, Record<OutcomeKind, number>>;
  pullErrors: number;
  lag: Record<string, ConsumerLag>;
};

/** What one consumer has in the source now (dispatcher.ts), and whether its queue is paused. */
export type ConsumerGauges = { queue: string; paused: boolean; inFlight: number; held: number };

export type Gauges = {
  inFlight: number;
  held: number;
  connected: boolean;
  draining: boolean;
  /** Whether the pause state of the source's queues is known (it pulls nothing until it is). */
  pausesKnown: boolean;
  /** By durable name. */
  consumers: Record<string, ConsumerGauges>;
};

export function createSourceMetrics(consumers: readonly ConsumerSpec[]): SourceMetrics {
  const deliveries: Record<string, number> = {};
  const outcomes: Record<string, Record<OutcomeKind, number>> = {};
  const lag: Record<string, ConsumerLag> = {};
  let pullErrors = 0;
  for (const consumer of consumers) {
    deliveries[consumer.durable] = 0;
    outcomes[consumer.durable] = { ack: 0, retry: 0, deadletter: 0, abandoned: 0 };
  }
  return {
    recordDelivery(consumer) {
      deliveries[consumer.durable] = (deliveries[consumer.durable] ?? 0) + 1;
    },
    recordOutcome(consumer, kind) {
      const counts = (outcomes[consumer.durable] ??= { ack: 0, retry: 0, deadletter: 0, abandoned: 0 });
      counts[kind] += 1;
    },
    recordPullError() {
      pullErrors += 1;
    },
    setLag(consumer, value) {
      lag[consumer.durable] = value;
    },
    snapshot() {
      return structuredClone({ deliveries, outcomes, pullErrors, lag });
    },
  };
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labels(values: Record<string, string>): string {
  const parts = Object.entries(values).map(([name, value]) => `${name}="${escapeLabel(value)}"`);
  return `{${parts.join(',')}}`;
}

/** Prometheus text exposition format (version 0.0.4). */
export function renderMetrics(functionName: string, snapshot: MetricsSnapshot, gauges: Gauges): string {
  const lines: string[] = [];
  const family = (name: string, type: 'counter' | 'gauge', help: string) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };
  const fn = { function: functionName };

  family('tm_source_deliveries_total', 'counter', 'HTTP deliveries attempted to the sink.');
  for (const [consumer, count] of Object.entries(snapshot.deliveries)) {
    lines.push(`tm_source_deliveries_total${labels({ ...fn, consumer })} ${count}`);
  }
  family('tm_source_outcomes_total', 'counter', 'Settled messages by outcome (ack, retry, deadletter, abandoned).');
  for (const [consumer, counts] of Object.entries(snapshot.outcomes)) {
    for (const outcome of OUTCOME_KINDS) {
      lines.push(`tm_source_outcomes_total${labels({ ...fn, consumer, outcome })} ${counts[outcome]}`);
    }
  }
  family('tm_source_pull_errors_total', 'counter', 'Pull requests that failed or timed out.');
  lines.push(`tm_source_pull_errors_total${labels(fn)} ${snapshot.pullErrors}`);
  family('tm_source_in_flight', 'gauge', 'Deliveries in progress.');
  lines.push(`tm_source_in_flight${labels(fn)} ${gauges.inFlight}`);
  family('tm_source_held', 'gauge', 'Messages pulled and waiting for a free delivery slot.');
  lines.push(`tm_source_held${labels(fn)} ${gauges.held}`);
  family('tm_source_consumer_lag', 'gauge', 'Messages not yet delivered by the consumer (num_pending).');
  for (const [consumer, value] of Object.entries(snapshot.lag)) {
    lines.push(`tm_source_consumer_lag${labels({ ...fn, consumer })} ${value.pending}`);
  }
  family('tm_source_consumer_ack_pending', 'gauge', 'Messages delivered and not yet acknowledged (num_ack_pending).');
  for (const [consumer, value] of Object.entries(snapshot.lag)) {
    lines.push(`tm_source_consumer_ack_pending${labels({ ...fn, consumer })} ${value.ackPending}`);
  }
  family('tm_source_connected', 'gauge', '1 while connected to NATS.');
  lines.push(`tm_source_connected${labels(fn)} ${gauges.connected ? 1 : 0}`);
  family('tm_source_draining', 'gauge', '1 once shutdown has begun.');
  lines.push(`tm_source_draining${labels(fn)} ${gauges.draining ? 1 : 0}`);
  renderConsumerGauges(lines, family, fn, gauges);
  return `${lines.join('\n')}\n`;
}

/** The pause gauges and the per-consumer split of in flight and held. */
function renderConsumerGauges(
  lines: string[],
  family: (name: string, type: 'gauge', help: string) => void,
  fn: { function: string },
  gauges: Gauges,
): void {
  const consumers = Object.entries(gauges.consumers);
  family('tm_source_pauses_known', 'gauge', '1 once the pause state of the queues is known (nothing is pulled before).');
  lines.push(`tm_source_pauses_known${labels(fn)} ${gauges.pausesKnown ? 1 : 0}`);
  family('tm_source_paused', 'gauge', '1 while the queue of the consumer is paused.');
  for (const [consumer, value] of consumers) lines.push(`tm_source_paused${labels({ ...fn, consumer, queue: value.queue })} ${value.paused ? 1 : 0}`);
  family('tm_source_consumer_in_flight', 'gauge', 'Deliveries in progress, by consumer.');
  for (const [consumer, value] of consumers) lines.push(`tm_source_consumer_in_flight${labels({ ...fn, consumer })} ${value.inFlight}`);
  family('tm_source_consumer_held', 'gauge', 'Messages pulled and waiting here (for a slot, or for their queue to resume), by consumer.');
  for (const [consumer, value] of consumers) lines.push(`tm_source_consumer_held${labels({ ...fn, consumer })} ${value.held}`);
}
