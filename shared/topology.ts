// One definition of the deployed topology: every process, its port, what it consumes and how
// it scales. The local runner builds its processes from this; the drift test compares
// docker-compose.yml, k8s/, knative/ and func.yaml against it.
import { CONSUMERS, type ConsumedStage, type ConsumerSpec } from './contract';
import { MAX_TASK_TIMEOUT_MS } from './task-types';

const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

export type FunctionName =
  | 'ingest'
  | 'enricher'
  | 'scheduler'
  | 'worker'
  | 'result-store'
  | 'notifier'
  | 'audit'
  | 'deadletter';

export type FunctionSpec = {
  readonly name: FunctionName;
  /** HTTP port of the function (CloudEvents endpoint at POST /, health under /health/). */
  readonly port: number;
  /** Consumers its source reads, in priority order; empty for the enricher (plain HTTP). */
  readonly consumers: readonly ConsumerSpec[];
  /** Port of its source's /healthz and /metrics (0 when it has no source). */
  readonly sourcePort: number;
  /** Deliveries the source keeps in flight. */
  readonly maxInFlight: number;
  /** How long the source waits for one delivery's answer. The worker's must outlast the longest
   *  task (in-progress acks keep the message while it runs); a dead worker drops the connection. */
  readonly requestTimeoutMs: number;
  /** Events per delivery request (CloudEvents batch mode), only for stages whose events may be
   *  handled in any order; absent: one per request. TM_SOURCE_BATCH_MAX_EVENTS overrides. */
  readonly batchMaxEvents?: number;
  /** Knative autoscaling: 0 = scale to zero when idle. */
  readonly minScale: number;
  readonly maxScale: number;
  readonly targetConcurrency: number;
};

function stage(
  name: ConsumedStage,
  port: number,
  sourcePort: number,
  scaling: { maxInFlight: number; minScale: number; maxScale: number; targetConcurrency: number; requestTimeoutMs?: number; batchMaxEvents?: number },
): FunctionSpec {
  return { name, port, consumers: CONSUMERS[name], sourcePort, requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS, ...scaling };
}

/**
 * V8 heap settings of every process (NODE_OPTIONS: the local stack sets it, the image has it as
 * ENV). V8's young generation grows to 16 MiB semi-spaces under allocation pressure and its old
 * generation is collected late below a multi-gigabyte limit: under a 10,000-task burst every
 * process grew to 150–270 MiB of mostly garbage. 2 MiB semi-spaces and a 128 MiB old space keep
 * each below 120 MiB, for more frequent minor collections (docs/performance.md).
 */
export const NODE_MEMORY_OPTIONS = '--max-semi-space-size=2 --max-old-space-size=128';

/**
 * glibc's MALLOC_ARENA_MAX for every node process, beside NODE_MEMORY_OPTIONS (the local stack
 * sets both, the image has both as ENV). glibc gives each thread that mallocs an arena of its
 * own, up to 8 per core; node's V8 and libuv threads each kept a few MiB of native memory in
 * theirs. Two arenas cut each process's burst peak by 4–6 MiB with no CPU cost that the bench
 * could tell from its noise (docs/performance.md).
 */
export const NODE_MALLOC_ARENA_MAX = '2';

/**
 * V8 flags on the command line of every node process (NODE_OPTIONS refuses them): the local
 * stack, the image's CMD and every manifest's args (docs/performance.md has the figures).
 * - `--no-concurrent-recompilation`: by default V8's optimizing compiler runs on a worker thread,
 *   and the memory it takes for its work stays in that thread's malloc arena once the burst's code
 *   is optimized: 10–25 MiB more per process at a burst's peak (the gateway peaked at 109–122 MiB
 *   so, at 96–98 without). On the main thread the same compilations cost the same CPU, between
 *   events instead of beside them.
 * - `--min-semi-space-size=2`: the young generation starts at the size NODE_MEMORY_OPTIONS caps it
 *   at instead of growing to it, so a start makes no minor collection before it is ready (a
 *   function made two, 6–10 ms of its cold start). Under load it is at that size anyway.
 */
export const NODE_V8_FLAGS: readonly string[] = ['--no-concurrent-recompilation', '--min-semi-space-size=2'];

/**
 * The process that hosts every source (`npm start`: source/host.ts) allocates for seven: with
 * 2 MiB semi-spaces it spent a quarter of its time in minor collections. 4 MiB keep most of that
 * saving (8 MiB cut its CPU per task by a fifth) and its burst peak below 100 MiB: 95–96 MiB,
 * against 102–105 with 8 (docs/performance.md).
 */
export const SOURCE_HOST_NODE_ARGS: readonly string[] = ['--max-semi-space-size=4'];

/**
 * GOMEMLIMIT of the nats-server the local stack runs (`npm start`, the tests, compose). Go's
 * collector otherwise lets the heap double before it runs: under a 10,000-task burst nats-server
 * reached 110 MiB, mostly garbage; with this soft limit it peaks at 71–79 MiB. A soft limit: a
 * server that needs more live memory takes it (and collects more often), it is not killed. On
 * Kubernetes the StatefulSet sets it to 90% of the container's memory limit instead.
 */
export const NATS_SERVER_MEMORY_LIMIT = '64MiB';

/**
 * GOMAXPROCS of the nats-server `npm start` and the tests run beside the stack's node processes
 * on one machine. Go's scheduler otherwise keeps a thread per core looking for work, and on the
 * 2-core development machine that search (nanosleep and futex calls by the thousand a second)
 * took CPU the node processes needed: with one thread nats-server used 15-19% less CPU per task
 * (0.89/0.74/0.82 -> 0.72/0.60/0.71 ms, alternating runs), with the one-client latency and the
 * burst within their noise (docs/performance.md). Compose and Kubernetes leave it to Go: there
 * NATS has a container of its own, and the cores it may use are the operator's to give.
 */
export const NATS_SERVER_GO_THREADS = '1';

/** The environment of the nats-server `npm start` and the tests run. */
export const LOCAL_NATS_SERVER_ENV: Readonly<Record<string, string>> = {
  GOMEMLIMIT: NATS_SERVER_MEMORY_LIMIT,
  GOMAXPROCS: NATS_SERVER_GO_THREADS,
};

export const GATEWAY_PORT = 50051;
export const GATEWAY_HEALTH_PORT = 8080;
/** The web dashboard (dashboard/): HTTP, a client of the gateway's public API, no NATS or Redis. */
export const DASHBOARD_PORT = 8090;
/** Where the gateway serves GET /metrics with TM_METRICS=prometheus (TM_METRICS_PORT); every
 * other process serves it on its own port (docs/decisions/0018-metrics.md). */
export const GATEWAY_METRICS_PORT = 9464;

export const FUNCTIONS: readonly FunctionSpec[] = [
  {
    name: 'enricher',
    port: 8100,
    consumers: [],
    sourcePort: 0,
    maxInFlight: 0,
    requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
    minScale: 1,
    maxScale: 10,
    targetConcurrency: 100,
  },
  stage('ingest', 8101, 9101, { maxInFlight: 64, minScale: 1, maxScale: 10, targetConcurrency: 64, batchMaxEvents: 32 }),
  stage('scheduler', 8102, 9102, { maxInFlight: 64, minScale: 1, maxScale: 10, targetConcurrency: 64, batchMaxEvents: 32 }),
  // 64 tasks at once per worker process, as the other stages take 64 events: with 16, a local
  // stack's one worker was the pipeline's narrowest point under load (a 10,000-task burst drained
  // in 22.6-24.3 s against 17.7-19.5 with 64; docs/performance.md). Knative still aims at 16 per
  // pod and starts more pods beyond it; 64 is each pod's limit (containerConcurrency).
  stage('worker', 8103, 9103, {
    maxInFlight: 64,
    minScale: 0,
    maxScale: 50,
    targetConcurrency: 16,
    requestTimeoutMs: MAX_TASK_TIMEOUT_MS + 60_000,
  }),
  stage('result-store', 8104, 9104, { maxInFlight: 64, minScale: 1, maxScale: 10, targetConcurrency: 64, batchMaxEvents: 32 }),
  stage('notifier', 8105, 9105, { maxInFlight: 128, minScale: 1, maxScale: 10, targetConcurrency: 128, batchMaxEvents: 32 }),
  stage('audit', 8106, 9106, { maxInFlight: 64, minScale: 0, maxScale: 5, targetConcurrency: 64, batchMaxEvents: 32 }),
  stage('deadletter', 8107, 9107, { maxInFlight: 16, minScale: 0, maxScale: 3, targetConcurrency: 16, batchMaxEvents: 16 }),
];

export function findFunction(name: string): FunctionSpec {
  const spec = FUNCTIONS.find((candidate) => candidate.name === name);
  if (!spec) throw new Error(`unknown function ${name}`);
  return spec;
}
