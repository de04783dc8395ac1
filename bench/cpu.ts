// CPU per task: every process's utime + stime before and after a measured run, divided by the
// tasks the run finished. A process whose pid changed in between (restarted) or that is gone
// cannot be accounted for, and the report says so instead of guessing.
import { readCpuTicks } from './proc';

export type WatchedProcess = {
  name: string;
  pid: number | undefined;
  /** False for processes shown for information only (the bench's own client side). */
  counted: boolean;
};

export type CpuSample = WatchedProcess & { ticks: number | undefined };

export function takeCpuSnapshot(processes: readonly WatchedProcess[]): CpuSample[] {
  return processes.map((process) => ({ ...process, ticks: readCpuTicks(process.pid) }));
}

export type CpuRow = { name: string; counted: boolean; cpuMs: number; msPerTask: number; /** Of the counted total. */ share: number };

export type CpuReport = {
  tasks: number;
  seconds: number;
  clockTicksPerSecond: number;
  /** CPU of every counted process. */
  totalMs: number;
  msPerTask: number;
  /** Cores kept busy on average over the window (totalMs / wall time). */
  cores: number;
  /** Counted processes first, each group by CPU time, largest first. */
  rows: CpuRow[];
  /** Processes that could not be measured (restarted or gone), left out of the total. */
  problems: string[];
};

export function toCpuReport(
  before: readonly CpuSample[],
  after: readonly CpuSample[],
  run: { tasks: number; seconds: number; clockTicksPerSecond: number },
): CpuReport {
  const msPerTick = 1000 / run.clockTicksPerSecond;
  const problems: string[] = [];
  const rows: CpuRow[] = [];
  for (const start of before) {
    const end = after.find((sample) => sample.name === start.name);
    if (start.ticks === undefined || end?.ticks === undefined) {
      problems.push(`${start.name}: not running at the ${start.ticks === undefined ? 'start' : 'end'}`);
      continue;
    }
    if (end.pid !== start.pid) {
      problems.push(`${start.name}: restarted during the run (pid ${start.pid} → ${end.pid})`);
      continue;
    }
    const cpuMs = (end.ticks - start.ticks) * msPerTick;
    rows.push({ name: start.name, counted: start.counted, cpuMs, msPerTask: run.tasks > 0 ? cpuMs / run.tasks : NaN, share: 0 });
  }
  const totalMs = rows.filter((row) => row.counted).reduce((sum, row) => sum + row.cpuMs, 0);
  for (const row of rows) row.share = row.counted && totalMs > 0 ? row.cpuMs / totalMs : 0;
  rows.sort((a, b) => Number(b.counted) - Number(a.counted) || b.cpuMs - a.cpuMs);
  return {
    tasks: run.tasks,
    seconds: run.seconds,
    clockTicksPerSecond: run.clockTicksPerSecond,
    totalMs,
    msPerTask: run.tasks > 0 ? totalMs / run.tasks : NaN,
    cores: run.seconds > 0 ? totalMs / 1000 / run.seconds : NaN,
    rows,
    problems,
  };
}
