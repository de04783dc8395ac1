// One closed-loop measurement, the same shape for taskmanager and for BullMQ: a warm-up, then
// `tasks` tasks from `concurrency` clients that each start the next when theirs ends (stopped
// early by the time cap), with every process's CPU time read before and after.
import { takeCpuSnapshot, toCpuReport, type CpuReport, type WatchedProcess } from './cpu';
import type { TimeWindow } from './cpuprofile';
import { nowUs } from './profiles';
import { runPool, summarize, type RunSummary } from './stats';

export type ClosedLoopSystem = {
  /** Runs one task and resolves when its outcome is seen; throws when it did not succeed. */
  runOne(index: number): Promise<void>;
  /** Resolves when the work behind the finished tasks is done too (so its CPU is counted). */
  quiet(): Promise<void>;
  /** The processes whose CPU is read (the system's, plus the bench client, not counted). */
  processes(): WatchedProcess[];
};

export type ClosedLoopOptions = {
  name: string;
  tasks: number;
  concurrency: number;
  warmupTasks: number;
  maxSeconds: number;
  clockTicksPerSecond: number;
};

/** `window`: the measured run on the CPU profiles' clock (BENCH_PROFILE summaries are cut to it). */
export type ClosedLoopResult = { summary: RunSummary; cpu: CpuReport; window: TimeWindow };

export const BENCH_CLIENT = 'bench process (clients)';

/** The bench process itself, shown beside a system's processes but not counted in its CPU. */
export function benchClientProcess(): WatchedProcess {
  return { name: BENCH_CLIENT, pid: process.pid, counted: false };
}

export async function measureClosedLoop(system: ClosedLoopSystem, options: ClosedLoopOptions): Promise<ClosedLoopResult> {
  if (options.warmupTasks > 0) {
    const warmup = await runPool(Math.min(options.warmupTasks, options.tasks), options.concurrency, system.runOne);
    if (warmup.latenciesMs.length === 0) throw new Error(`${options.name}: every warm-up task failed: ${warmup.firstFailure}`);
  }
  await system.quiet();
  const before = takeCpuSnapshot(system.processes());
  const startUs = nowUs();
  const started = performance.now();
  const run = await runPool(options.tasks, options.concurrency, system.runOne, { deadlineMs: started + options.maxSeconds * 1000 });
  const seconds = (performance.now() - started) / 1000;
  await system.quiet();
  const after = takeCpuSnapshot(system.processes());
  const window = { startUs, endUs: nowUs() };
  const summary = summarize(options.name, run, seconds);
  const cpu = toCpuReport(before, after, {
    tasks: summary.tasks,
    seconds: (performance.now() - started) / 1000,
    clockTicksPerSecond: options.clockTicksPerSecond,
  });
  return { summary, cpu, window };
}
