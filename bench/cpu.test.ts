import { describe, expect, it } from 'vitest';
import { toCpuReport, type CpuSample } from './cpu';

const sample = (name: string, pid: number | undefined, ticks: number | undefined, counted = true): CpuSample => ({ name, pid, ticks, counted });

describe('CPU per task', () => {
  it('sums the counted processes, divides by the tasks and orders the breakdown by cost', () => {
    const report = toCpuReport(
      [sample('worker', 10, 100), sample('nats-server', 11, 50), sample('bench (client)', 12, 0, false)],
      [sample('worker', 10, 130), sample('nats-server', 11, 120), sample('bench (client)', 12, 500, false)],
      { tasks: 100, seconds: 2, clockTicksPerSecond: 100 },
    );
    // 30 + 70 ticks at 10 ms each = 1,000 ms for 100 tasks; the client's 5,000 ms is not counted.
    expect(report.totalMs).toBe(1000);
    expect(report.msPerTask).toBe(10);
    expect(report.cores).toBe(0.5);
    expect(report.rows.map((row) => [row.name, row.cpuMs, row.share])).toEqual([
      ['nats-server', 700, 0.7],
      ['worker', 300, 0.3],
      ['bench (client)', 5000, 0],
    ]);
    expect(report.rows[0]!.msPerTask).toBe(7);
    expect(report.problems).toEqual([]);
  });

  it('when a process was restarted or is gone, it is left out of the total and named', () => {
    const report = toCpuReport(
      [sample('worker', 10, 100), sample('audit', 20, 5), sample('notifier', undefined, undefined)],
      [sample('worker', 99, 3), sample('audit', 20, undefined), sample('notifier', 30, 1)],
      { tasks: 10, seconds: 1, clockTicksPerSecond: 100 },
    );
    expect(report.rows).toEqual([]);
    expect(report.totalMs).toBe(0);
    expect(report.problems).toEqual([
      'worker: restarted during the run (pid 10 → 99)',
      'audit: not running at the end',
      'notifier: not running at the start',
    ]);
  });

  it('a run that finished no task has no CPU per task', () => {
    const report = toCpuReport([sample('worker', 1, 0)], [sample('worker', 1, 10)], { tasks: 0, seconds: 1, clockTicksPerSecond: 100 });
    expect(report.msPerTask).toBeNaN();
  });
});
