// What `npm run bench` prints: one section per figure, each ending with its target and PASS or
// MISS, a summary of every verdict, and one JSON line with every number. Pure: results in, lines out.
import type { BurstResult } from './burst';
import type { ColdStartRow } from './cold-start';
import type { BenchConfig } from './config';
import type { CpuReport } from './cpu';
import type { FunctionCost } from './cpuprofile';
import type { RunSummary } from './stats';
import { formatNumber, formatVerdict, judge, TARGETS, type Verdict } from './targets';

export type BenchMeta = {
  startedAt: string;
  node: string;
  cpus: number;
  cpuModel: string;
  loadAverage: number[];
  clockTicksPerSecond: number;
};

export type ProfileReport = {
  phase: string;
  process: string;
  profiles: number;
  /** The measured run the samples were cut to; undefined: the whole life of the process. */
  windowSeconds: number | undefined;
  busyMs: number;
  totalMs: number;
  top: FunctionCost[];
  /** Self time per package or folder, native calls counted to their caller, largest first. */
  areas: { area: string; selfMs: number }[];
};

export type BenchResults = {
  meta: BenchMeta;
  config: Omit<BenchConfig, 'phases'> & { phases: string[] };
  throughput?: { taskmanager: RunSummary; bullmq: RunSummary; ratio: number };
  latency?: { taskmanager: RunSummary; bullmq: RunSummary };
  cpu?: { taskmanager: CpuReport; bullmq: CpuReport };
  burst?: BurstResult;
  coldStart?: ColdStartRow[];
  profiles?: ProfileReport[];
  /** Phases that could not be measured (e.g. a stack that did not come up), with why. */
  failures: { phase: string; message: string }[];
  verdicts: Verdict[];
  seconds?: number;
};

/** Columns padded to their widest cell: the first column (or those in `left`) left-aligned,
 * the others right-aligned. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[], left: readonly number[] = [0]): string[] {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `  ${cells.map((cell, i) => (left.includes(i) ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')}`.trimEnd();
  return [line(header), ...rows.map(line)];
}

const n0 = (value: number) => formatNumber(value, 0);
const n1 = (value: number) => formatNumber(value, 1);
const n2 = (value: number) => formatNumber(value, 2);
const pct = (share: number) => `${formatNumber(share * 100, 1)}%`;

function heading(title: string): string {
  return `\n== ${title} ==`;
}

function verdictsOf(results: BenchResults, ...ids: Verdict['id'][]): string[] {
  return results.verdicts.filter((verdict) => ids.includes(verdict.id)).map(formatVerdict);
}

/** The JSON line: every number, verdicts last. NaN (not measured) becomes null. */
export function toJsonLine(results: BenchResults): string {
  const { verdicts, ...figures } = results;
  return JSON.stringify({ ...figures, verdicts });
}

export function formatHeader(results: BenchResults): string[] {
  const { meta, config } = results;
  return [
    `bench: ${meta.startedAt}, node ${meta.node}, ${meta.cpus} CPUs (${meta.cpuModel}), load average ${meta.loadAverage.map(n2).join(' ')} at start, CLK_TCK ${meta.clockTicksPerSecond}`,
    `phases: ${config.phases.join(', ')}; BENCH_TASKS=${config.tasks} BENCH_CONCURRENCY=${config.concurrency} BENCH_WARMUP=${config.warmupTasks} ` +
      `BENCH_LATENCY_TASKS=${config.latencyTasks} BENCH_BURST=${config.burst} BENCH_COLDSTART_RUNS=${config.coldStartRuns} ` +
      `BENCH_MAX_SECONDS=${config.maxSeconds} BENCH_BURST_MAX_SECONDS=${config.burstMaxSeconds}` +
      (config.profileDir ? ` BENCH_PROFILE=${config.profileDir} (profiling slows every process: figures are not comparable)` : '') +
      (config.metrics ? ' BENCH_METRICS=1 (every process records metrics, TM_METRICS=prometheus, and is scraped every 15 s)' : ' BENCH_METRICS=0 (metrics off)') +
      (config.separateSources ? ' BENCH_SEPARATE_SOURCES=1 (one process per source)' : ''),
    'stack processes run with LOG_LEVEL=error; each phase runs on a fresh stack and fresh servers; a shared machine makes figures vary run to run',
  ];
}

function runRow(label: string, run: RunSummary): string[] {
  return [label, n0(run.tasks), n0(run.failed), n1(run.seconds), n1(run.throughputPerSecond), n1(run.p50Ms), n1(run.p95Ms), n1(run.p99Ms)];
}

function runNotes(label: string, run: RunSummary, maxSeconds: number): string[] {
  const notes: string[] = [];
  if (run.capped) {
    notes.push(`${label}: capped at ${maxSeconds} s (BENCH_MAX_SECONDS): ${n0(run.tasks + run.failed)} of ${n0(run.requested)} tasks ran; figures are from what ran`);
  }
  if (run.failed > 0) notes.push(`${label}: ${run.failed} task(s) failed, e.g. ${run.firstFailure}`);
  return notes;
}

const RUN_HEADER = ['', 'tasks', 'failed', 'seconds', 'tasks/s', 'p50 ms', 'p95 ms', 'p99 ms'];

export function formatThroughput(results: BenchResults): string[] {
  const section = results.throughput;
  if (!section) return [];
  const { concurrency, maxSeconds } = results.config;
  return [
    heading(`Throughput at ${concurrency} clients (taskmanager: echo, SubmitTask → SUCCEEDED on StreamStatus; BullMQ: no-op, add → completed)`),
    ...formatTable(RUN_HEADER, [runRow('taskmanager', section.taskmanager), runRow('BullMQ', section.bullmq)]),
    ...runNotes('taskmanager', section.taskmanager, maxSeconds),
    ...runNotes('BullMQ', section.bullmq, maxSeconds),
    `ratio taskmanager / BullMQ: ${formatNumber(section.ratio, 3)}×`,
    ...verdictsOf(results, 'throughput', 'ratio'),
  ];
}

export function formatLatency(results: BenchResults): string[] {
  const section = results.latency;
  if (!section) return [];
  const { maxSeconds } = results.config;
  return [
    heading('Latency with one client (same tasks and jobs as above, one at a time)'),
    ...formatTable(RUN_HEADER, [runRow('taskmanager', section.taskmanager), runRow('BullMQ', section.bullmq)]),
    ...runNotes('taskmanager', section.taskmanager, maxSeconds),
    ...runNotes('BullMQ', section.bullmq, maxSeconds),
    ...verdictsOf(results, 'p50'),
  ];
}

function cpuBreakdown(report: CpuReport): string[] {
  const rows = report.rows.map((row) =>
    row.counted ? [row.name, n2(row.msPerTask), pct(row.share), n0(row.cpuMs)] : [row.name, n2(row.msPerTask), 'not counted', n0(row.cpuMs)],
  );
  return [
    ...formatTable(['process', 'ms/task', 'share', 'CPU ms'], rows),
    ...report.problems.map((problem) => `  not measured: ${problem}`),
  ];
}

function cpuLine(label: string, report: CpuReport): string {
  return (
    `${label}: ${n2(report.msPerTask)} ms CPU per task (${n0(report.tasks)} tasks; ${n0(report.totalMs)} ms CPU in ${n1(report.seconds)} s ` +
    `= ${n2(report.cores)} cores busy)`
  );
}

export function formatCpu(results: BenchResults): string[] {
  const section = results.cpu;
  if (!section) return [];
  return [
    heading('CPU per task (utime + stime from /proc/<pid>/stat, before and after the measured throughput run, warm-up excluded)'),
    cpuLine('taskmanager', section.taskmanager),
    '  counted: every function, every source, the gateway, nats-server, redis-server (setup has exited); the window runs until every JetStream consumer is idle',
    ...cpuBreakdown(section.taskmanager),
    cpuLine('BullMQ', section.bullmq),
    '  counted: redis-server and the worker process (16 concurrent no-op jobs); not counted: the bench process (Queue.add and QueueEvents clients)',
    ...cpuBreakdown(section.bullmq),
    ...verdictsOf(results, 'cpu'),
  ];
}

export function formatBurst(results: BenchResults): string[] {
  const burst = results.burst;
  if (!burst) return [];
  const { burstClients, burstConcurrency, burstMaxSeconds } = results.config;
  const states = Object.entries(burst.states)
    .map(([state, count]) => `${state} ${n0(count)}`)
    .join(', ');
  const drained = burst.drained
    ? `all ${n0(burst.submitted)} terminal ${n1(burst.drainSeconds)} s after the first submit (${states})`
    : `NOT drained: ${n0(burst.terminal)} of ${n0(burst.submitted)} terminal when the ${burstMaxSeconds} s cap (BENCH_BURST_MAX_SECONDS) ended the wait (${states || 'none'})`;
  const rows = burst.memory.map((m) => [m.name + (m.restarted ? ' (restarted)' : ''), n1(m.startMiB), n1(m.sampledMiB), n1(m.hwmMiB)]);
  return [
    heading(`Burst of ${n0(burst.requested)} echo tasks (${burstClients} gRPC channels, ${burstConcurrency} SubmitTask calls in flight, no waiting on tasks)`),
    `submitted ${n0(burst.submitted)} in ${n1(burst.submitSeconds)} s (${n0(burst.submitSeconds > 0 ? burst.submitted / burst.submitSeconds : NaN)}/s)` +
      (burst.submitFailed > 0 ? `; ${n0(burst.submitFailed)} refused, e.g. ${burst.firstSubmitFailure}` : ''),
    drained,
    `drain rate ${n1(burst.drainSeconds > 0 ? burst.terminal / burst.drainSeconds : NaN)} tasks/s`,
    'memory per process, MiB (VmRSS at the start, highest VmRSS sampled every 250 ms, kernel high-water mark VmHWM):',
    ...formatTable(['process', 'start', 'peak sampled', 'VmHWM'], rows),
    `highest: ${burst.maxPeakProcess} ${n1(burst.maxPeakMiB)} MiB`,
    ...burst.exits.flatMap((exit) => [
      `${exit.name} exited during the burst (${exit.how}) and was restarted; its last lines:`,
      ...exit.lastLines.map((line) => `    ${line}`),
    ]),
    ...verdictsOf(results, 'burstDrain', 'burstRss'),
  ];
}

/** The function whose median start is the slowest (one that never started, NaN, counts as slowest). */
function slowestFunction(rows: readonly ColdStartRow[]): ColdStartRow | undefined {
  const functions = rows.filter((row) => row.kind === 'function');
  if (functions.length === 0) return undefined;
  return functions.reduce((a, b) => (Number.isNaN(b.medianMs) || b.medianMs > a.medianMs ? b : a));
}

/** How much of the slowest function's start is ours: its median over the floor's. */
function formatOverFloor(rows: readonly ColdStartRow[]): string[] {
  const floor = rows.find((row) => row.kind === 'floor');
  const slowest = slowestFunction(rows);
  if (!floor || !slowest || !Number.isFinite(floor.medianMs) || !Number.isFinite(slowest.medianMs)) return [];
  return [
    `over node's own start: the slowest function (${slowest.name}) ${n1(slowest.medianMs)} ms, node-floor ${n1(floor.medianMs)} ms: ` +
      `${n1(slowest.medianMs - floor.medianMs)} ms of the start is the bundle's`,
  ];
}

export function formatColdStart(results: BenchResults): string[] {
  const rows = results.coldStart;
  if (!rows) return [];
  const limit = TARGETS.coldStart.limit;
  const table = rows.map((row) => [
    row.name,
    row.kind,
    n1(row.medianMs),
    n1(row.minMs),
    row.kind === 'floor' ? '—' : row.medianMs <= limit ? 'PASS' : 'MISS',
    row.runsMs.map((ms) => n0(ms)).join(' ') + (row.failures > 0 ? `; ${row.failures} failed: ${row.firstFailure}` : ''),
  ]);
  return [
    heading(`Cold start: spawn → ready, ${results.config.coldStartRuns} run${results.config.coldStartRuns === 1 ? '' : 's'} each, one process at a time`),
    '  ready = function: GET /health/readiness 200; source: /healthz 200 (its sink already up); gateway: grpc.health.v1 SERVING',
    "  compile cache: empty at each process's first run, which compiles its bundle; later runs read what it saved (as a restart or an image's baked cache does)",
    "  node-floor: node itself, a bare node:http server started with the functions' node arguments and environment, probed as they are",
    ...formatTable(['process', 'kind', 'median ms', 'min ms', `≤ ${limit} ms`, 'runs (ms)'], table, [0, 1, 5]),
    ...formatOverFloor(rows),
    ...verdictsOf(results, 'coldStart'),
  ];
}

export function formatProfiles(results: BenchResults): string[] {
  const profiles = results.profiles;
  if (!profiles) return [];
  if (profiles.length === 0) return [heading('CPU profiles'), `no .cpuprofile files under ${results.config.profileDir}`];
  return [
    heading(`CPU profiles (${results.config.profileDir}): top ${results.config.profileTop} functions by self time per process, % of busy (non-idle) time`),
    ...profiles.flatMap((profile) => [
      `-- ${profile.phase} / ${profile.process}: busy ${n0(profile.busyMs)} ms of ${n0(profile.totalMs)} ms sampled ` +
        (profile.windowSeconds === undefined
          ? `over the whole life of ${profile.profiles} process${profile.profiles === 1 ? '' : 'es'}`
          : `in the measured ${n1(profile.windowSeconds)} s`),
      ...(profile.areas.length === 0
        ? []
        : [`  by area: ${profile.areas.map((a) => `${a.area} ${pct(profile.busyMs > 0 ? a.selfMs / profile.busyMs : NaN)}`).join(', ')}`]),
      ...(profile.top.length === 0
        ? ['  no busy sample']
        : formatTable(
            ['self ms', '%', 'function (file:line)'],
            profile.top.map((fn) => [
              n0(fn.selfMs),
              pct(profile.busyMs > 0 ? fn.selfMs / profile.busyMs : NaN),
              `${fn.functionName}${fn.file ? ` (${fn.file}:${fn.line})` : fn.functionName.startsWith('(') ? '' : ' (native)'}`,
            ]),
            [2],
          )),
    ]),
  ];
}

/** The latest failed phase. */
export function formatFailures(results: BenchResults): string[] {
  const failure = results.failures.at(-1);
  return failure ? [heading(`${failure.phase}: FAILED`), failure.message] : [];
}

export function formatSummary(results: BenchResults): string[] {
  return [
    heading('Targets'),
    ...formatTable(
      ['figure', 'verdict'],
      results.verdicts.map((verdict) => [verdict.label, formatVerdict(verdict).replace(/^target /, '')]),
      [0, 1],
    ),
    ...results.failures.map((failure) => `phase ${failure.phase} FAILED: ${failure.message.split('\n')[0]}`),
    `${results.verdicts.filter((verdict) => verdict.pass).length} of ${results.verdicts.length} targets met` +
      (results.seconds === undefined ? '' : `; the bench took ${n0(results.seconds)} s`),
  ];
}

/** The verdict of every figure the results hold, in the order of the sections. */
export function toVerdicts(results: BenchResults): Verdict[] {
  const verdicts: Verdict[] = [];
  const { concurrency, burst: burstSize } = results.config;
  if (results.throughput) {
    verdicts.push(judge('throughput', results.throughput.taskmanager.throughputPerSecond, `throughput at ${concurrency} clients`));
    verdicts.push(judge('ratio', results.throughput.ratio, `throughput / BullMQ at ${concurrency} clients`));
  }
  if (results.latency) verdicts.push(judge('p50', results.latency.taskmanager.p50Ms));
  if (results.cpu) verdicts.push(judge('cpu', results.cpu.taskmanager.msPerTask));
  if (results.burst) {
    const { drained, drainSeconds, maxPeakMiB, maxPeakProcess } = results.burst;
    verdicts.push(judge('burstDrain', drained ? drainSeconds : NaN, `burst of ${n0(burstSize)}: all terminal${drained ? '' : ' (not drained)'}`));
    verdicts.push(judge('burstRss', maxPeakMiB, `burst: peak RSS of every process (highest: ${maxPeakProcess})`));
  }
  const slowest = slowestFunction(results.coldStart ?? []);
  if (slowest) verdicts.push(judge('coldStart', slowest.medianMs, `function cold start (median of the slowest: ${slowest.name})`));
  return verdicts;
}
