import { describe, expect, it } from 'vitest';
import type { BurstResult } from './burst';
import { loadBenchConfig } from './config';
import type { CpuReport } from './cpu';
import {
  formatBurst,
  formatColdStart,
  formatCpu,
  formatProfiles,
  formatSummary,
  formatTable,
  formatThroughput,
  toJsonLine,
  toVerdicts,
  type BenchResults,
} from './report';
import type { RunSummary } from './stats';

const run = (name: string, overrides: Partial<RunSummary> = {}): RunSummary => ({
  name,
  requested: 5_000,
  tasks: 5_000,
  failed: 0,
  capped: false,
  seconds: 10,
  throughputPerSecond: 500,
  p50Ms: 100,
  p95Ms: 200,
  p99Ms: 300,
  ...overrides,
});

const cpu: CpuReport = {
  tasks: 100,
  seconds: 10,
  clockTicksPerSecond: 100,
  totalMs: 1_000,
  msPerTask: 10,
  cores: 0.1,
  rows: [
    { name: 'worker-source', counted: true, cpuMs: 600, msPerTask: 6, share: 0.6 },
    { name: 'nats-server', counted: true, cpuMs: 400, msPerTask: 4, share: 0.4 },
    { name: 'bench process (clients)', counted: false, cpuMs: 50, msPerTask: 0.5, share: 0 },
  ],
  problems: ['audit: restarted during the run (pid 1 → 2)'],
};

const burst: BurstResult = {
  requested: 10_000,
  submitted: 10_000,
  submitFailed: 0,
  submitSeconds: 40,
  drained: false,
  terminal: 9_000,
  drainSeconds: 600,
  states: { SUCCEEDED: 9_000 },
  memory: [{ name: 'gateway', startMiB: 120, sampledMiB: 180, hwmMiB: 181, peakMiB: 181, restarted: false }],
  exits: [{ name: 'notifier', how: 'exit 134', lastLines: ['[notifier] FATAL ERROR: JavaScript heap out of memory'] }],
  maxPeakMiB: 181,
  maxPeakProcess: 'gateway',
};

function results(overrides: Partial<BenchResults>): BenchResults {
  const config = loadBenchConfig({});
  const base: BenchResults = {
    meta: { startedAt: 'now', node: 'v24', cpus: 2, cpuModel: 'x', loadAverage: [1, 2, 3], clockTicksPerSecond: 100 },
    config: { ...config, phases: [...config.phases] },
    failures: [],
    verdicts: [],
    ...overrides,
  };
  return { ...base, verdicts: toVerdicts(base) };
}

describe('the bench report', () => {
  it('tables pad every column to its widest cell, text left and numbers right', () => {
    expect(formatTable(['name', 'ms'], [['a', '1.0'], ['longer', '12.5']])).toEqual(['  name      ms', '  a        1.0', '  longer  12.5']);
  });

  it('a capped throughput run says how many tasks ran of how many, and both targets are judged', () => {
    const capped = run('taskmanager', { capped: true, tasks: 1_800, requested: 5_000, throughputPerSecond: 30 });
    const lines = formatThroughput(results({ throughput: { taskmanager: capped, bullmq: run('BullMQ', { throughputPerSecond: 3_000 }), ratio: 0.01 } }));
    expect(lines).toContain('taskmanager: capped at 60 s (BENCH_MAX_SECONDS): 1,800 of 5,000 tasks ran; figures are from what ran');
    expect(lines).toContain('target ≥ 1,000 tasks/s: MISS (30.0 tasks/s)');
    expect(lines).toContain('target ≥ 0.30×: MISS (0.010×)');
  });

  it('the CPU section breaks the cost down per process, shows the client apart and names what it could not measure', () => {
    const lines = formatCpu(results({ cpu: { taskmanager: cpu, bullmq: cpu } }));
    expect(lines.some((line) => /worker-source\s+6\.00\s+60\.0%\s+600/.test(line))).toBe(true);
    expect(lines.some((line) => /bench process \(clients\)\s+0\.50\s+not counted/.test(line))).toBe(true);
    expect(lines).toContain('  not measured: audit: restarted during the run (pid 1 → 2)');
    expect(lines).toContain('target ≤ 2 ms: MISS (10.0 ms)');
  });

  it('a burst that did not drain says how far it got, and its drain time is not measured', () => {
    const lines = formatBurst(results({ burst }));
    expect(lines.some((line) => line.startsWith('NOT drained: 9,000 of 10,000 terminal when the 600 s cap'))).toBe(true);
    expect(lines).toContain('target ≤ 20 s: MISS (not measured)');
    expect(lines).toContain('target ≤ 100 MiB: MISS (181.0 MiB)');
    expect(lines).toContain('notifier exited during the burst (exit 134) and was restarted; its last lines:');
    expect(lines).toContain('    [notifier] FATAL ERROR: JavaScript heap out of memory');
  });

  it('the cold-start verdict is the slowest function median; sources and the gateway get a row each', () => {
    const row = (name: string, kind: 'function' | 'source' | 'gateway', medianMs: number) => ({ name, kind, runsMs: [medianMs], medianMs, minMs: medianMs, failures: 0 });
    const r = results({ coldStart: [row('worker', 'function', 120), row('ingest', 'function', 140), row('worker-source', 'source', 900), row('gateway', 'gateway', 100)] });
    expect(r.verdicts).toEqual([expect.objectContaining({ id: 'coldStart', value: 140, pass: true, label: 'function cold start (median of the slowest: ingest)' })]);
    const lines = formatColdStart(r);
    expect(lines.some((line) => /worker-source\s+source\s+900\.0\s+900\.0\s+MISS/.test(line))).toBe(true);
  });

  it("node's own start is a row of its own, never judged, and the slowest function's start is shown over it", () => {
    const row = (name: string, kind: 'function' | 'floor', medianMs: number) => ({ name, kind, runsMs: [medianMs], medianMs, minMs: medianMs, failures: 0 });
    // A floor over the limit is still neither the verdict nor a MISS: it is node's, not ours.
    const slowFloor = results({ coldStart: [row('node-floor', 'floor', 160), row('worker', 'function', 120)] });
    expect(slowFloor.verdicts).toEqual([expect.objectContaining({ id: 'coldStart', value: 120, pass: true })]);
    expect(formatColdStart(slowFloor).some((line) => /node-floor\s+floor\s+160\.0\s+160\.0\s+—/.test(line))).toBe(true);

    const lines = formatColdStart(results({ coldStart: [row('node-floor', 'floor', 100), row('worker', 'function', 120), row('ingest', 'function', 145)] }));
    expect(lines).toContain("over node's own start: the slowest function (ingest) 145.0 ms, node-floor 100.0 ms: 45.0 ms of the start is the bundle's");
    expect(formatColdStart(results({ coldStart: [row('worker', 'function', 120)] })).some((line) => line.startsWith('over node'))).toBe(false);
  });

  it('profiles list the top functions with their share of busy time', () => {
    const lines = formatProfiles(
      results({
        config: { ...results({}).config, profileDir: '/tmp/p' },
        profiles: [{ phase: 'throughput', process: 'worker', profiles: 1, windowSeconds: 12, busyMs: 200, totalMs: 1_000, top: [{ functionName: 'parse', file: 'source/pull.ts', line: 7, selfMs: 50 }], areas: [{ area: '@nats-io', selfMs: 100 }, { area: 'source', selfMs: 50 }] }],
      }),
    );
    expect(lines).toContain('-- throughput / worker: busy 200 ms of 1,000 ms sampled in the measured 12.0 s');
    expect(lines.some((line) => /50\s+25\.0%\s+parse \(source\/pull\.ts:7\)/.test(line))).toBe(true);
    expect(lines).toContain('  by area: @nats-io 50.0%, source 25.0%');
  });

  it('a failed phase is listed with the targets, and does not count as a verdict', () => {
    const lines = formatSummary(results({ failures: [{ phase: 'burst', message: 'timed out waiting for every function\nmore' }] }));
    expect(lines).toContain('phase burst FAILED: timed out waiting for every function');
    expect(lines.at(-1)).toBe('0 of 0 targets met');
  });

  it('the JSON line holds every figure, verdicts last, and unmeasured numbers as null', () => {
    const line = toJsonLine(results({ latency: { taskmanager: run('taskmanager', { p50Ms: NaN }), bullmq: run('BullMQ') } }));
    const parsed = JSON.parse(line) as Record<string, unknown>;
    expect(Object.keys(parsed).at(-1)).toBe('verdicts');
    expect((parsed.latency as { taskmanager: { p50Ms: unknown } }).taskmanager.p50Ms).toBeNull();
  });
});
