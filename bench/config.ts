// What `npm run bench` runs and how big, read once from the environment (pure: the entry file
// passes process.env). Defaults are the figures; the time caps keep a run of today's slow
// pipeline to minutes, and the report says when a cap cut a phase short.

export const PHASES = ['throughput', 'latency', 'cpu', 'burst', 'coldstart'] as const;
export type Phase = (typeof PHASES)[number];

export type BenchConfig = {
  readonly phases: ReadonlySet<Phase>;
  /** Tasks of the measured throughput run (per system), before the time cap. */
  readonly tasks: number;
  /** Concurrent clients of the throughput run. */
  readonly concurrency: number;
  /** Tasks run (and not measured) before the throughput and latency runs. */
  readonly warmupTasks: number;
  /** Tasks of the one-client latency run (per system). */
  readonly latencyTasks: number;
  /** Tasks submitted at once in the burst. */
  readonly burst: number;
  /** Concurrent SubmitTask calls during the burst, spread over `burstClients` gRPC channels. */
  readonly burstConcurrency: number;
  readonly burstClients: number;
  /** Spawns per process in the cold-start phase. */
  readonly coldStartRuns: number;
  /** Time cap of each closed-loop run (throughput, latency): no new task starts after it. */
  readonly maxSeconds: number;
  /** How long the burst may take to drain before the phase gives up and reports what it saw. */
  readonly burstMaxSeconds: number;
  /** BENCH_PROFILE: where each node process of the stack writes its V8 CPU profile. */
  readonly profileDir: string | undefined;
  /** Functions listed per process in the profile summary. */
  readonly profileTop: number;
  /** BENCH_METRICS: every process of the stacks records metrics (TM_METRICS=prometheus) and is
   * scraped as Prometheus would, to compare with a run without. */
  readonly metrics: boolean;
  /** BENCH_SEPARATE_SOURCES: one process per source (as compose and Kubernetes run them) instead
   * of all of them in one (as `npm start` does). */
  readonly separateSources: boolean;
};

export type BenchEnv = Readonly<Record<string, string | undefined>>;

/** The config, or an error naming every bad variable at once. */
export function loadBenchConfig(env: BenchEnv): BenchConfig {
  const problems: string[] = [];
  const int = (name: string, fallback: number, min: number): number => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min) {
      problems.push(`${name} must be an integer ≥ ${min} (got ${JSON.stringify(raw)})`);
      return fallback;
    }
    return value;
  };
  const phases = toPhases(env.BENCH_PHASES, problems);
  const config: BenchConfig = {
    phases,
    tasks: int('BENCH_TASKS', 5_000, 1),
    concurrency: int('BENCH_CONCURRENCY', 64, 1),
    warmupTasks: int('BENCH_WARMUP', 100, 0),
    latencyTasks: int('BENCH_LATENCY_TASKS', 200, 1),
    burst: int('BENCH_BURST', 10_000, 1),
    burstConcurrency: int('BENCH_BURST_CONCURRENCY', 128, 1),
    burstClients: int('BENCH_BURST_CLIENTS', 4, 1),
    coldStartRuns: int('BENCH_COLDSTART_RUNS', 9, 1),
    maxSeconds: int('BENCH_MAX_SECONDS', 60, 1),
    burstMaxSeconds: int('BENCH_BURST_MAX_SECONDS', 600, 1),
    profileDir: env.BENCH_PROFILE?.trim() ? env.BENCH_PROFILE.trim() : undefined,
    profileTop: int('BENCH_PROFILE_TOP', 8, 1),
    metrics: toFlag('BENCH_METRICS', env.BENCH_METRICS, problems),
    separateSources: toFlag('BENCH_SEPARATE_SOURCES', env.BENCH_SEPARATE_SOURCES, problems),
  };
  if (problems.length > 0) throw new Error(`bench: bad environment:\n  ${problems.join('\n  ')}`);
  return Object.freeze(config);
}

function toFlag(name: string, raw: string | undefined, problems: string[]): boolean {
  const value = raw?.trim().toLowerCase() ?? '';
  if (value === '' || value === '0' || value === 'false') return false;
  if (value === '1' || value === 'true') return true;
  problems.push(`${name} must be 1 or 0 (got ${JSON.stringify(raw)})`);
  return false;
}

function toPhases(raw: string | undefined, problems: string[]): ReadonlySet<Phase> {
  if (raw === undefined || raw.trim() === '' || raw.trim() === 'all') return new Set(PHASES);
  const names = raw
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  const unknown = names.filter((name) => !(PHASES as readonly string[]).includes(name));
  if (unknown.length > 0) problems.push(`BENCH_PHASES: unknown phase(s) ${unknown.join(', ')} (known: ${PHASES.join(', ')}, all)`);
  return new Set(names.filter((name): name is Phase => (PHASES as readonly string[]).includes(name)));
}
