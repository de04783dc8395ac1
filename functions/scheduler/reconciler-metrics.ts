// The reconciler's counters, served as Prometheus text on the scheduler's GET /metrics: how
// many sweeps ran, how many stalled tasks were re-driven (by the state they were stuck in) and
// how many were failed for good. Under normal load the re-drive count stays 0.
import type { TaskStateName } from '../../shared/contract';
import type { ReconcilerMetrics } from './reconciler';

export type ReconcilerCounters = ReconcilerMetrics & {
  snapshot(): { sweeps: number; redrives: Partial<Record<TaskStateName, number>>; failed: number };
  render(): string;
};

export function createReconcilerCounters(): ReconcilerCounters {
  let sweeps = 0;
  let failed = 0;
  const redrives: Partial<Record<TaskStateName, number>> = {};
  const snapshot = () => ({ sweeps, redrives: { ...redrives }, failed });
  return {
    swept: () => {
      sweeps += 1;
    },
    redriven: (state) => {
      redrives[state] = (redrives[state] ?? 0) + 1;
    },
    failed: () => {
      failed += 1;
    },
    snapshot,
    render() {
      const lines = [
        '# HELP tm_reconciler_sweeps_total Sweeps of the reconciler over stalled tasks.',
        '# TYPE tm_reconciler_sweeps_total counter',
        `tm_reconciler_sweeps_total ${sweeps}`,
        '# HELP tm_reconciler_redrives_total Stalled tasks re-driven, by the state they were stuck in.',
        '# TYPE tm_reconciler_redrives_total counter',
        ...Object.entries(redrives).map(([state, count]) => `tm_reconciler_redrives_total{state="${state}"} ${count}`),
        '# HELP tm_reconciler_failed_total Stalled tasks failed for good after their last re-drive.',
        '# TYPE tm_reconciler_failed_total counter',
        `tm_reconciler_failed_total ${failed}`,
      ];
      return `${lines.join('\n')}\n`;
    },
  };
}
