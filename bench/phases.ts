// The order of a bench run: each selected phase on its own fresh stack or servers, its section
// printed as soon as it is measured (a full run takes minutes), then the profiles, the targets
// and the JSON line.
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { benchBullmq } from './bullmq';
import { benchBurst } from './burst';
import { benchColdStart } from './cold-start';
import type { ClosedLoopResult } from './closed-loop';
import type { BenchConfig, Phase } from './config';
import type { TimeWindow } from './cpuprofile';
import { readProfiles } from './profiles';
import {
  formatBurst,
  formatColdStart,
  formatCpu,
  formatFailures,
  formatHeader,
  formatLatency,
  formatProfiles,
  formatSummary,
  formatThroughput,
  toVerdicts,
  type BenchMeta,
  type BenchResults,
} from './report';
import { benchTaskmanager } from './taskmanager';

export type BenchDeps = {
  meta: BenchMeta;
  /** dist/bench.cjs, started again as the BullMQ worker. */
  benchScript: string;
  distDir: string;
  /** Repository root: profile locations are shown relative to it. */
  root: string;
  /** Sections (stdout). */
  print: (lines: readonly string[]) => void;
  /** Progress (stderr). */
  log: (line: string) => void;
};

/** Closed-loop runs of both systems with the same shape: `tasks` tasks from `concurrency` clients. */
async function runBoth(
  config: BenchConfig,
  deps: BenchDeps,
  phase: string,
  shape: { tasks: number; concurrency: number },
): Promise<{ taskmanager: ClosedLoopResult; bullmq: ClosedLoopResult }> {
  const common = { ...shape, warmupTasks: config.warmupTasks, maxSeconds: config.maxSeconds, clockTicksPerSecond: deps.meta.clockTicksPerSecond };
  deps.log(`bench: ${phase}: taskmanager, ${shape.tasks} echo tasks from ${shape.concurrency} client(s), on a fresh stack`);
  const taskmanager = await benchTaskmanager({ ...common, name: 'taskmanager', phase, profileDir: config.profileDir, metrics: config.metrics, separateSources: config.separateSources, log: deps.log });
  deps.log(`bench: ${phase}: BullMQ, ${shape.tasks} no-op jobs from ${shape.concurrency} client(s), on a fresh redis-server`);
  const bullmq = await benchBullmq(deps.benchScript, { ...common, name: 'BullMQ' });
  return { taskmanager, bullmq };
}

function prepareProfileDir(dir: string): void {
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new Error(`BENCH_PROFILE=${dir} is not empty: its old profiles would be summed with the new ones; name a new or empty directory`);
  }
  mkdirSync(dir, { recursive: true });
}

export async function runBench(config: BenchConfig, deps: BenchDeps): Promise<BenchResults> {
  const started = performance.now();
  const results: BenchResults = { meta: deps.meta, config: { ...config, phases: [...config.phases] }, failures: [], verdicts: [] };
  const show = (format: (r: BenchResults) => string[]) => {
    results.verdicts = toVerdicts(results);
    deps.print(format(results));
  };
  /** Each phase's measured window, to cut its CPU profiles to it. */
  const windows = new Map<string, TimeWindow>();
  const has = (phase: Phase) => config.phases.has(phase);
  deps.print(formatHeader(results));
  if (config.profileDir) prepareProfileDir(config.profileDir);

  const steps: { phase: string; selected: boolean; run: () => Promise<void> }[] = [
    // The cold start first. A scale from zero starts a process on an idle machine, from a small
    // container runtime. After the other phases, this process holds a few hundred MB, and fork()
    // copies its page tables on every spawn (8-15 ms here, against 5 from a fresh process), right
    // after minutes at full load (docs/performance.md, 2026-12-05, late morning).
    {
      phase: 'coldstart',
      selected: has('coldstart'),
      run: async () => {
        deps.log(`bench: cold start: ${config.coldStartRuns} spawns of each process, one at a time`);
        results.coldStart = await benchColdStart({ runs: config.coldStartRuns, distDir: deps.distDir, profileDir: config.profileDir, log: deps.log });
        show(formatColdStart);
      },
    },
    {
      phase: 'throughput',
      selected: has('throughput') || has('cpu'),
      run: async () => {
        const run = await runBoth(config, deps, 'throughput', { tasks: config.tasks, concurrency: config.concurrency });
        windows.set('throughput', run.taskmanager.window);
        if (has('throughput')) {
          const ratio = run.taskmanager.summary.throughputPerSecond / run.bullmq.summary.throughputPerSecond;
          results.throughput = { taskmanager: run.taskmanager.summary, bullmq: run.bullmq.summary, ratio };
          show(formatThroughput);
        }
        if (has('cpu')) {
          results.cpu = { taskmanager: run.taskmanager.cpu, bullmq: run.bullmq.cpu };
          show(formatCpu);
        }
      },
    },
    {
      phase: 'latency',
      selected: has('latency'),
      run: async () => {
        const run = await runBoth(config, deps, 'latency', { tasks: config.latencyTasks, concurrency: 1 });
        windows.set('latency', run.taskmanager.window);
        results.latency = { taskmanager: run.taskmanager.summary, bullmq: run.bullmq.summary };
        show(formatLatency);
      },
    },
    {
      phase: 'burst',
      selected: has('burst'),
      run: async () => {
        const { burst, window } = await benchBurst({
          burst: config.burst,
          concurrency: config.burstConcurrency,
          clients: config.burstClients,
          maxSeconds: config.burstMaxSeconds,
          profileDir: config.profileDir,
          metrics: config.metrics,
          separateSources: config.separateSources,
          log: deps.log,
        });
        results.burst = burst;
        windows.set('burst', window);
        show(formatBurst);
      },
    },
  ];
  // A phase that fails (a stack that does not come up) is reported, and the others still run.
  for (const step of steps.filter((candidate) => candidate.selected)) {
    try {
      await step.run();
    } catch (error) {
      results.failures.push({ phase: step.phase, message: (error as Error).message ?? String(error) });
      show(formatFailures);
    }
  }
  if (config.profileDir) {
    results.profiles = readProfiles(config.profileDir, deps.root, windows).map(({ phase, process, window, summary }) => ({
      phase,
      process,
      windowSeconds: window ? (window.endUs - window.startUs) / 1e6 : undefined,
      profiles: summary.profiles,
      busyMs: summary.busyMs,
      totalMs: summary.totalMs,
      top: summary.functions.slice(0, config.profileTop),
      areas: summary.areas.slice(0, 8),
    }));
    show(formatProfiles);
  }
  results.seconds = (performance.now() - started) / 1000;
  show(formatSummary);
  return results;
}
