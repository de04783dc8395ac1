// Starts the whole process stack — the same bundles, commands and environment as `npm start`
// (scripts/local-stack.ts) — against test-owned nats-server and redis-server on free ports.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { RedisClient as Redis } from '../../shared/redis-client';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createEnvReader, readRedisKeyPrefix } from '../../shared/config';
import { FUNCTIONS, type FunctionName } from '../../shared/topology';
import { sourceName, toLocalStack, toNodeOptions, type NatsCredentials, type ProcessSpec } from '../../scripts/local-stack';
import { createSupervisor, type Supervisor } from '../../scripts/supervisor';
import { getFreePort, waitFor, waitForPort } from './ports';
import { startNatsServer, startRedisServer, type RedisServerOptions, type TestServer } from './servers';

export type TestStack = {
  gatewayAddress: string;
  /** The web dashboard's page, e.g. http://127.0.0.1:41234/. */
  dashboardUrl: string;
  nats: TestServer;
  redisServer: TestServer;
  /** A plain Redis client for assertions, with the processes' key prefix (TM_REDIS_PREFIX): it
   * prefixes keys, not channels or patterns (use toChannel and keysMatching). */
  redis: Redis;
  nc: NatsConnection;
  supervisor: Supervisor;
  /** After `supervisor.stop()`: starts every process again (the setup step first) on the same
   * servers and ports, under a new supervisor that replaces `supervisor`. */
  startProcesses(): Promise<void>;
  logs: string[];
  ports: Record<string, number>;
  /** What the supervisor runs: each process's command and environment. */
  specs: readonly ProcessSpec[];
  stop(): Promise<void>;
};

/** Scaled-down retry schedule so retry paths finish in seconds. */
export const FAST_FLOW_ENV = {
  TM_RETRY_DELAYS_MS: '100,200,300,400,500',
  TM_ACK_WAIT_MS: '5000',
  LOG_LEVEL: 'warn',
} as const;

export type TestStackOptions = {
  env?: Record<string, string>;
  processEnv?: Record<string, Record<string, string>>;
  /** How the test-owned redis-server runs (e.g. AOF on, for restart faults). */
  redis?: RedisServerOptions;
  /** Extra replicas of a function, each with its own source on the same durable consumers (as
   * Knative scales a Service out): `{ worker: 1 }` adds `worker-2` fed by `worker-source-2`. */
  extraReplicas?: Partial<Record<FunctionName, number>>;
  /** Starts the stack's nats-server instead of the default one (e.g. with configs/nats/nats.conf). */
  startNats?: () => Promise<TestServer>;
  /** NATS user and password per process name (scripts/local-stack.ts `natsCredentials`). */
  natsCredentials?: Record<string, NatsCredentials>;
  /** Credentials of the stack's own NATS connection (`nc`) when the server requires them. */
  natsClient?: { user: string; pass: string; inboxPrefix?: string };
  /** Extra arguments to `node` before the bundle of each long-lived process (not the setup step),
   * e.g. `--cpu-prof --cpu-prof-dir=<dir>/<name>` for the benchmark's profiles. */
  nodeArgs?: (spec: ProcessSpec) => readonly string[];
  /** Every source in one process, as `npm start` runs them (scripts/local-stack.ts `hostSources`). */
  hostSources?: boolean;
};

/** Name of replica `index` (1 = the topology's own process, 2.. = extras) of a process. */
export function replicaName(name: string, index: number): string {
  return index <= 1 ? name : `${name}-${index}`;
}

/** Copies of a function's process and its source's, on new ports, the copy source feeding the
 * copy function. Everything else (consumers, environment) is the original's. */
function toReplicaSpecs(specs: readonly ProcessSpec[], fn: FunctionName, index: number, ports: Record<string, number>): ProcessSpec[] {
  const original = specs.find((spec) => spec.name === fn);
  const source = specs.find((spec) => spec.name === `${fn}-source`);
  if (!original || !source) throw new Error(`extraReplicas: ${fn} is not a function fed by a source`);
  const name = replicaName(fn, index);
  const sourceReplica = replicaName(`${fn}-source`, index);
  const named = (spec: ProcessSpec, replica: string, env: Record<string, string>): ProcessSpec => ({
    ...spec,
    name: replica,
    env: { ...spec.env, TM_COMPONENT: replica, OTEL_SERVICE_NAME: replica, ...env },
  });
  return [
    named(original, name, { PORT: String(ports[name]) }),
    named(source, sourceReplica, { PORT: String(ports[sourceReplica]), K_SINK: `http://127.0.0.1:${ports[name]}/` }),
  ];
}

export async function startTestStack(options: TestStackOptions = {}): Promise<TestStack> {
  const distDir = resolve('dist');
  if (!existsSync(resolve(distDir, 'gateway.cjs'))) throw new Error('dist/ is missing: run `npm run build` first');
  const nats = await (options.startNats ?? startNatsServer)();
  const redisServer = await startRedisServer(options.redis);
  const ports: Record<string, number> = { gateway: await getFreePort(), dashboard: await getFreePort() };
  for (const fn of FUNCTIONS) {
    ports[fn.name] = await getFreePort();
    if (fn.sourcePort) ports[sourceName(fn)] = await getFreePort();
  }
  const replicas = Object.entries(options.extraReplicas ?? {}).flatMap(([fn, extra]) =>
    Array.from({ length: extra ?? 0 }, (_, i) => ({ fn: fn as FunctionName, index: i + 2 })),
  );
  for (const { fn, index } of replicas) {
    ports[replicaName(fn, index)] = await getFreePort();
    ports[replicaName(`${fn}-source`, index)] = await getFreePort();
  }
  const logs: string[] = [];
  const baseSpecs = toLocalStack({
    distDir,
    natsUrl: nats.url,
    redisUrl: redisServer.url,
    // As `npm start` without HOST (and whatever HOST the test runner's shell has).
    host: '127.0.0.1',
    ports,
    // As `npm start`: the heap settings (the test runner's own NODE_OPTIONS are not passed on).
    nodeOptions: toNodeOptions(undefined),
    env: { ...FAST_FLOW_ENV, ...options.env },
    ...(options.processEnv ? { processEnv: options.processEnv } : {}),
    ...(options.natsCredentials ? { natsCredentials: options.natsCredentials } : {}),
    ...(options.hostSources ? { hostSources: true } : {}),
  });
  const specs = [...baseSpecs, ...replicas.flatMap(({ fn, index }) => toReplicaSpecs(baseSpecs, fn, index, ports))].map((spec) =>
    options.nodeArgs && !spec.oneShot ? { ...spec, args: [...options.nodeArgs(spec), ...spec.args] } : spec,
  );
  const newSupervisor = () =>
    createSupervisor({
      specs,
      log: (line) => {
        logs.push(line);
        if (process.env.TM_TEST_LOGS) process.stdout.write(`${line}\n`);
      },
    });
  const supervisor = newSupervisor();
  const keyPrefix = readRedisKeyPrefix(createEnvReader({ ...FAST_FLOW_ENV, ...options.env }));
  const redis = new Redis(redisServer.url, { keyPrefix });
  let nc: NatsConnection | undefined;
  try {
    await supervisor.start();
    nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, ...options.natsClient });
    await waitForHealthy(ports, replicas);
  } catch (error) {
    // A stack that did not come up must not outlive the test file (orphans load the machine).
    await supervisor.stop(2_000);
    await nc?.close().catch(() => undefined);
    redis.disconnect();
    await nats.stop();
    await redisServer.stop();
    throw error;
  }
  const gatewayAddress = `127.0.0.1:${ports.gateway}`;
  const stack: TestStack = {
    gatewayAddress,
    dashboardUrl: `http://127.0.0.1:${ports.dashboard}/`,
    nats,
    redisServer,
    redis,
    nc: nc as NatsConnection,
    supervisor,
    logs,
    ports,
    specs,
    async startProcesses() {
      stack.supervisor = newSupervisor();
      await stack.supervisor.start();
      await waitForHealthy(ports, replicas);
    },
    async stop() {
      await stack.supervisor.stop(10_000);
      await nc.close().catch(() => undefined);
      redis.disconnect();
      await nats.stop();
      await redisServer.stop();
    },
  };
  return stack;
}

/** Every function and the dashboard answer their readiness probes and every source its /healthz. */
async function waitForHealthy(ports: Record<string, number>, replicas: readonly { fn: FunctionName; index: number }[] = []): Promise<void> {
  const urls: string[] = [`http://127.0.0.1:${ports.dashboard}/health/readiness`];
  for (const fn of FUNCTIONS) {
    urls.push(`http://127.0.0.1:${ports[fn.name]}/health/readiness`);
    if (fn.sourcePort) urls.push(`http://127.0.0.1:${ports[sourceName(fn)]}/healthz`);
  }
  for (const { fn, index } of replicas) {
    urls.push(`http://127.0.0.1:${ports[replicaName(fn, index)]}/health/readiness`);
    urls.push(`http://127.0.0.1:${ports[replicaName(`${fn}-source`, index)]}/healthz`);
  }
  let notReady: string[] = urls;
  // Generous: sixteen processes start at once on a two-core machine.
  await waitFor(
    'every function and source to be ready',
    async () => {
      const results = await Promise.all(urls.map((url) => fetch(url).then((r) => r.ok, () => false)));
      notReady = urls.filter((_, i) => !results[i]);
      return notReady.length === 0;
    },
    90_000,
    100,
  ).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}; not ready: ${notReady.join(', ')}`);
  });
  await waitForPort(ports.gateway!, 30_000);
}
