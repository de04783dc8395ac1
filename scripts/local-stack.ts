// The process-based local stack, derived from the one topology in shared/topology.ts: which
// processes run, with which command and environment. `npm start` and the end-to-end tests run
// exactly these; docker-compose.yml and the manifests are checked against the same topology.
import { join } from 'node:path';
import { HOSTED_SOURCES_VARIABLE, toHostedSourcesValue } from '../source/host-config';
import { DASHBOARD_PORT, FUNCTIONS, GATEWAY_PORT, NODE_MALLOC_ARENA_MAX, NODE_MEMORY_OPTIONS, NODE_V8_FLAGS, SOURCE_HOST_NODE_ARGS, type FunctionSpec } from '../shared/topology';

/** NODE_OPTIONS of every process: the heap settings, then any given (e.g. --enable-source-maps). */
export function toNodeOptions(given: string | undefined): string {
  return [NODE_MEMORY_OPTIONS, given].filter(Boolean).join(' ');
}

export type ProcessSpec = {
  readonly name: string;
  /** Arguments to `node`. */
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** Runs to completion before the others start (the stream/consumer setup). */
  readonly oneShot?: boolean;
};

export type LocalStackOptions = {
  distDir: string;
  natsUrl: string;
  redisUrl: string;
  /** NODE_OPTIONS of every process (`npm start` and the test stacks: toNodeOptions; in an image, its
   * ENV), given with MALLOC_ARENA_MAX (NODE_MALLOC_ARENA_MAX), as the image has both. Absent (the
   * deployment checks): neither. */
  nodeOptions?: string;
  /** The address every process listens on, given to each as HOST (`npm start`: 127.0.0.1 unless
   * HOST says otherwise); the processes reach each other through it. Absent (the deployment
   * checks): no HOST, and they reach each other through 127.0.0.1. */
  host?: string;
  /** Port overrides by process name (tests use free ports); defaults come from the topology. */
  ports?: Readonly<Record<string, number>>;
  /** Extra environment for every process (e.g. scaled-down retry delays in tests). */
  env?: Readonly<Record<string, string>>;
  /** Extra environment for one process, by name (e.g. `worker-source`). */
  processEnv?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** NATS user and password per process name, for a server run with configs/nats/nats.conf
   * (docs/security.md). Absent (the default, `npm start`): no credentials. */
  natsCredentials?: Readonly<Record<string, NatsCredentials>>;
  /** Runs every source in one process, `sources`, over one NATS connection (source/host.ts), as
   * `npm start` does; not with `natsCredentials`, whose users are one per source. Absent: one
   * process per source, as in compose and on Kubernetes. */
  hostSources?: boolean;
};

/** The process that hosts every source when `hostSources` is set. */
export const SOURCE_HOST_NAME = 'sources';

export type NatsCredentials = Readonly<{ user: string; password: string }>;

/** `node --require telemetry.cjs <bundle>`: the bootstrap first (it loads the SDK only when
 * traces are exported), and no --enable-source-maps, whose parsing of the bundle's map was the
 * largest single cost of a cold start; NODE_OPTIONS=--enable-source-maps turns maps on for
 * debugging (docs/decisions/0004). */
function bundleArgs(distDir: string, bundle: string): string[] {
  return [...NODE_V8_FLAGS, '--require', join(distDir, 'telemetry.cjs'), join(distDir, bundle)];
}

/** Whether `host` means every interface (0.0.0.0, ::) rather than one address. */
export function isAnyAddress(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

/** Where a process of the stack reaches another that listens on `host`, as URL host. */
export function toDialHost(host: string | undefined): string {
  if (host === undefined || isAnyAddress(host)) return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

export function sourceName(fn: FunctionSpec): string {
  return `${fn.name}-source`;
}

export function toLocalStack(options: LocalStackOptions): ProcessSpec[] {
  const port = (name: string, fallback: number) => options.ports?.[name] ?? fallback;
  const common = {
    NATS_URL: options.natsUrl,
    REDIS_URL: options.redisUrl,
    ...(options.host !== undefined ? { HOST: options.host } : {}),
    ...options.env,
    ...(options.nodeOptions !== undefined ? { NODE_OPTIONS: options.nodeOptions, MALLOC_ARENA_MAX: NODE_MALLOC_ARENA_MAX } : {}),
  };
  const dialHost = toDialHost(options.host);
  const credentialsOf = (name: string): Record<string, string> => {
    const credentials = options.natsCredentials?.[name];
    return credentials ? { NATS_USER: credentials.user, NATS_PASSWORD: credentials.password } : {};
  };
  const withName = (name: string, env: Record<string, string>) => ({
    ...common,
    TM_COMPONENT: name,
    OTEL_SERVICE_NAME: name,
    ...credentialsOf(name),
    ...env,
    ...options.processEnv?.[name],
  });

  const specs: ProcessSpec[] = [
    { name: 'setup', args: bundleArgs(options.distDir, 'setup.cjs'), env: withName('setup', {}), oneShot: true },
  ];
  const enricher = FUNCTIONS.find((fn) => fn.name === 'enricher');
  const enricherUrl = `http://${dialHost}:${port('enricher', enricher?.port ?? 8100)}`;
  const hosted: Record<string, Record<string, string>> = {};
  const hostSources = options.hostSources === true && options.natsCredentials === undefined;
  for (const fn of FUNCTIONS) {
    const fnPort = port(fn.name, fn.port);
    specs.push({
      name: fn.name,
      args: bundleArgs(options.distDir, `functions/${fn.name}.cjs`),
      env: withName(fn.name, { PORT: String(fnPort), ...(fn.name === 'ingest' ? { ENRICHER_URL: enricherUrl } : {}) }),
    });
    if (fn.consumers.length === 0) continue;
    const sourceEnv = { PORT: String(port(sourceName(fn), fn.sourcePort)), K_SINK: `http://${dialHost}:${fnPort}/` };
    if (hostSources) {
      hosted[fn.name] = { ...sourceEnv, ...options.processEnv?.[sourceName(fn)] };
      continue;
    }
    specs.push({
      name: sourceName(fn),
      args: bundleArgs(options.distDir, 'source.cjs'),
      env: withName(sourceName(fn), { ...sourceEnv, TM_SOURCE_FUNCTION: fn.name }),
    });
  }
  if (hostSources) {
    specs.push({
      name: SOURCE_HOST_NAME,
      // Given on the command line, they win over the same flags in NODE_OPTIONS.
      args: [...SOURCE_HOST_NODE_ARGS, ...bundleArgs(options.distDir, 'source.cjs')],
      env: withName(SOURCE_HOST_NAME, { [HOSTED_SOURCES_VARIABLE]: toHostedSourcesValue(hosted) }),
    });
  }
  specs.push({
    name: 'gateway',
    args: bundleArgs(options.distDir, 'gateway.cjs'),
    env: withName('gateway', { PORT: String(port('gateway', GATEWAY_PORT)) }),
  });
  specs.push(toDashboardSpec(options, withName, `${dialHost}:${port('gateway', GATEWAY_PORT)}`));
  return specs;
}

/** The dashboard talks to the gateway only (gRPC, with each caller's key): no NATS or Redis
 * address, and no credentials of its own. */
function toDashboardSpec(
  options: LocalStackOptions,
  withName: (name: string, env: Record<string, string>) => Record<string, string>,
  gatewayAddress: string,
): ProcessSpec {
  const { NATS_URL: _nats, REDIS_URL: _redis, ...env } = withName('dashboard', {
    PORT: String(options.ports?.dashboard ?? DASHBOARD_PORT),
    TM_GATEWAY_ADDRESS: gatewayAddress,
  });
  return { name: 'dashboard', args: bundleArgs(options.distDir, 'dashboard.cjs'), env };
}
