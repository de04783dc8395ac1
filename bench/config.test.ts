import { describe, expect, it } from 'vitest';
import { loadBenchConfig, PHASES } from './config';

describe('bench configuration', () => {
  it('defaults to every phase at the issue figures', () => {
    const config = loadBenchConfig({});
    expect([...config.phases]).toEqual([...PHASES]);
    expect(config).toMatchObject({ concurrency: 64, burst: 10_000, coldStartRuns: 9, maxSeconds: 60, profileDir: undefined });
  });

  it('runs only the phases named, in any order, with sizes from the environment', () => {
    const config = loadBenchConfig({ BENCH_PHASES: ' burst, cpu ', BENCH_BURST: '2000', BENCH_MAX_SECONDS: '30', BENCH_PROFILE: '/tmp/p' });
    expect([...config.phases].sort()).toEqual(['burst', 'cpu']);
    expect(config).toMatchObject({ burst: 2_000, maxSeconds: 30, profileDir: '/tmp/p' });
  });

  it('names every bad variable at once', () => {
    expect(() => loadBenchConfig({ BENCH_PHASES: 'throughput,speed', BENCH_TASKS: '0', BENCH_CONCURRENCY: 'many' })).toThrow(
      /BENCH_PHASES: unknown phase\(s\) speed[\s\S]*BENCH_TASKS must be an integer ≥ 1[\s\S]*BENCH_CONCURRENCY must be an integer ≥ 1/,
    );
  });

  it('runs with metrics off unless BENCH_METRICS says 1, and names a value it does not know', () => {
    expect(loadBenchConfig({}).metrics).toBe(false);
    expect(loadBenchConfig({ BENCH_METRICS: '0' }).metrics).toBe(false);
    expect(loadBenchConfig({ BENCH_METRICS: '1' }).metrics).toBe(true);
    expect(() => loadBenchConfig({ BENCH_METRICS: 'yes' })).toThrow(/BENCH_METRICS must be 1 or 0 \(got "yes"\)/);
  });

  it('hosts every source in one process unless BENCH_SEPARATE_SOURCES says 1, and names a value it does not know', () => {
    expect(loadBenchConfig({}).separateSources).toBe(false);
    expect(loadBenchConfig({ BENCH_SEPARATE_SOURCES: '1' }).separateSources).toBe(true);
    expect(() => loadBenchConfig({ BENCH_SEPARATE_SOURCES: 'yes' })).toThrow(/BENCH_SEPARATE_SOURCES must be 1 or 0 \(got "yes"\)/);
  });
});
