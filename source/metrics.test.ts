import { describe, expect, it } from 'vitest';
import { CONSUMERS } from '../shared/contract';
import { createSourceMetrics, renderMetrics } from './metrics';

describe('source metrics', () => {
  it('renders deliveries, outcomes, gauges, lag and pauses in Prometheus text format', () => {
    const [high, medium] = CONSUMERS.worker;
    const metrics = createSourceMetrics([high, medium]);
    metrics.recordDelivery(high);
    metrics.recordDelivery(high);
    metrics.recordOutcome(high, 'ack');
    metrics.recordOutcome(high, 'retry');
    metrics.recordOutcome(medium, 'deadletter');
    metrics.recordPullError();
    metrics.setLag(medium, { pending: 12, ackPending: 3 });

    const text = renderMetrics('worker', metrics.snapshot(), {
      inFlight: 2,
      held: 1,
      connected: true,
      draining: false,
      pausesKnown: true,
      consumers: {
        'worker-high': { queue: 'worker.high', paused: false, inFlight: 2, held: 0 },
        'worker-medium': { queue: 'worker.medium', paused: true, inFlight: 0, held: 1 },
      },
    });
    const lines = text.split('\n');
    expect(lines).toContain('# TYPE tm_source_deliveries_total counter');
    expect(lines).toContain('tm_source_deliveries_total{function="worker",consumer="worker-high"} 2');
    expect(lines).toContain('tm_source_deliveries_total{function="worker",consumer="worker-medium"} 0');
    expect(lines).toContain('tm_source_outcomes_total{function="worker",consumer="worker-high",outcome="ack"} 1');
    expect(lines).toContain('tm_source_outcomes_total{function="worker",consumer="worker-high",outcome="retry"} 1');
    expect(lines).toContain('tm_source_outcomes_total{function="worker",consumer="worker-medium",outcome="deadletter"} 1');
    expect(lines).toContain('tm_source_pull_errors_total{function="worker"} 1');
    expect(lines).toContain('tm_source_in_flight{function="worker"} 2');
    expect(lines).toContain('tm_source_held{function="worker"} 1');
    expect(lines).toContain('tm_source_consumer_lag{function="worker",consumer="worker-medium"} 12');
    expect(lines).toContain('tm_source_consumer_ack_pending{function="worker",consumer="worker-medium"} 3');
    expect(lines).toContain('tm_source_connected{function="worker"} 1');
    expect(lines).toContain('tm_source_pauses_known{function="worker"} 1');
    expect(lines).toContain('tm_source_paused{function="worker",consumer="worker-high",queue="worker.high"} 0');
    expect(lines).toContain('tm_source_paused{function="worker",consumer="worker-medium",queue="worker.medium"} 1');
    expect(lines).toContain('tm_source_consumer_in_flight{function="worker",consumer="worker-high"} 2');
    expect(lines).toContain('tm_source_consumer_held{function="worker",consumer="worker-medium"} 1');
    expect(text.endsWith('\n')).toBe(true);
  });

  it('snapshots are copies', () => {
    const metrics = createSourceMetrics(CONSUMERS.ingest);
    const before = metrics.snapshot();
    metrics.recordDelivery(CONSUMERS.ingest[0]);
    expect(before.deliveries.ingest).toBe(0);
    expect(metrics.snapshot().deliveries.ingest).toBe(1);
  });
});
