// docker-compose.yml against the local runner (scripts/local-stack.ts) and the topology: the
// application services must be the local stack's processes, with the same command, the same
// environment (host names instead of 127.0.0.1) and the topology's ports. Pure: the compose file
// and the process specs come in, a list of problems goes out, so a test can feed it mutated
// copies and see each drift named.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { ProcessSpec } from '../../scripts/local-stack';
import { DASHBOARD_PORT, FUNCTIONS, GATEWAY_PORT, type FunctionSpec } from '../../shared/topology';

export const APP_IMAGE = 'taskmanager:local';

/** Where the application's dependencies are on the compose network. */
export const COMPOSE_HOSTS = { natsUrl: 'nats://nats:4222', redisUrl: 'redis://redis:6379' } as const;

/** Variables a deployment adds to the local stack's environment, and why. */
export const DEPLOYMENT_ONLY_ENV: Readonly<Record<string, string>> = {
  NATS_USER: 'the compose NATS server runs configs/nats/nats.conf with one user per process',
  NATS_PASSWORD: 'the password of that user',
  OTEL_EXPORTER_OTLP_ENDPOINT: 'traces go to the OpenTelemetry Collector',
  TM_METRICS: 'Prometheus scrapes every process (configs/prometheus/prometheus.yaml)',
  TM_TASK_TYPES_FILE: 'the gateway, ingest and the worker read the task type registry mounted from configs/task-types/',
};

export type ComposeService = {
  image?: string;
  build?: unknown;
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  expose?: Array<string | number>;
  ports?: unknown[];
  healthcheck?: { test?: string | string[] };
  depends_on?: string[] | Record<string, { condition: string }>;
  restart?: string;
  volumes?: Array<string | { type?: string; source?: string; target: string }>;
  [key: string]: unknown;
};

export type ComposeFile = { services: Record<string, ComposeService>; volumes?: Record<string, unknown>; [key: string]: unknown };

/** Parses a compose file as Docker Compose does: YAML anchors, aliases and `<<` merge keys. */
export function loadCompose(file: string): ComposeFile {
  return parse(readFileSync(file, 'utf8'), { merge: true, maxAliasCount: -1 }) as ComposeFile;
}

/** A service's environment as a map (compose allows a map or a list of KEY=VALUE). */
export function toEnvironment(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((entry) => [entry.split('=')[0]!, entry.slice(entry.indexOf('=') + 1)]));
  }
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, value === null ? '' : String(value)]));
}

/** A service running our image: it uses the image, or builds an image of its own from here. */
/** A service that runs the application image (or builds an untagged one). The example task
 * handler builds its own image (EXAMPLE_IMAGES) and is not an application process. */
export function isAppService(service: ComposeService): boolean {
  if (service.image !== undefined && EXAMPLE_IMAGES.includes(service.image)) return false;
  return service.image === APP_IMAGE || service.build !== undefined;
}

/** Images of examples the compose file runs beside the application (examples/handlers/). */
export const EXAMPLE_IMAGES: readonly string[] = ['taskmanager-word-stats:local'];

/** Host that replaces 127.0.0.1 in a local-stack variable, by the variable's meaning. */
function hostFor(spec: ProcessSpec, key: string): string | undefined {
  if (key === 'K_SINK') return spec.env.TM_SOURCE_FUNCTION;
  if (key === 'ENRICHER_URL') return 'enricher';
  if (key === 'TM_GATEWAY_ADDRESS') return 'gateway';
  return undefined;
}

/** The environment a compose service must have for a local-stack process. */
export function toComposeEnv(spec: ProcessSpec): { env: Record<string, string>; problems: string[] } {
  const env: Record<string, string> = {};
  const problems: string[] = [];
  for (const [key, value] of Object.entries(spec.env)) {
    if (!value.includes('127.0.0.1')) {
      env[key] = value;
      continue;
    }
    const host = hostFor(spec, key);
    if (host) env[key] = value.replaceAll('127.0.0.1', host);
    else problems.push(`${spec.name}: ${key}=${value} points at 127.0.0.1 and no compose host is known for it`);
  }
  return { env, problems };
}

/** The port each long-running process listens on, from the topology. */
export function topologyPorts(functions: readonly FunctionSpec[] = FUNCTIONS): Record<string, number> {
  const ports: Record<string, number> = { gateway: GATEWAY_PORT, dashboard: DASHBOARD_PORT };
  for (const fn of functions) {
    ports[fn.name] = fn.port;
    if (fn.consumers.length > 0) ports[`${fn.name}-source`] = fn.sourcePort;
  }
  return ports;
}

function commandOf(service: ComposeService): string[] {
  const command = service.command ?? [];
  return Array.isArray(command) ? command : command.split(/\s+/).filter(Boolean);
}

export function findComposeDrift(
  compose: ComposeFile,
  specs: readonly ProcessSpec[],
  ports: Readonly<Record<string, number>> = topologyPorts(),
): string[] {
  const problems: string[] = [];
  const services = compose.services ?? {};
  for (const spec of specs) {
    const service = services[spec.name];
    if (!service) {
      problems.push(`${spec.name}: no compose service of that name`);
      continue;
    }
    if (service.image !== APP_IMAGE) problems.push(`${spec.name}: image is ${String(service.image)}, expected ${APP_IMAGE}`);

    const command = commandOf(service);
    const expected = ['node', ...spec.args];
    if (JSON.stringify(command) !== JSON.stringify(expected)) {
      problems.push(`${spec.name}: command is ${JSON.stringify(command)}, the local stack runs ${JSON.stringify(expected)}`);
    }

    const { env: wanted, problems: unmapped } = toComposeEnv(spec);
    problems.push(...unmapped);
    const actual = toEnvironment(service);
    for (const [key, value] of Object.entries(wanted)) {
      if (!(key in actual)) problems.push(`${spec.name}: ${key} is missing (the local stack sets ${key}=${value})`);
      else if (actual[key] !== value) problems.push(`${spec.name}: ${key} is "${actual[key]}", expected "${value}"`);
    }
    for (const key of Object.keys(actual)) {
      if (!(key in wanted) && !(key in DEPLOYMENT_ONLY_ENV)) {
        problems.push(`${spec.name}: ${key} is set in compose but not by the local stack`);
      }
    }

    if (spec.oneShot) continue;
    const port = ports[spec.name];
    if (port === undefined) {
      problems.push(`${spec.name}: the topology has no port for it`);
      continue;
    }
    if (actual.PORT !== String(port)) problems.push(`${spec.name}: PORT is ${String(actual.PORT)}, the topology says ${port}`);
    const exposed = (service.expose ?? []).map(String);
    if (JSON.stringify(exposed) !== JSON.stringify([String(port)])) {
      problems.push(`${spec.name}: exposes ${JSON.stringify(exposed)}, the topology says ["${port}"]`);
    }
  }
  const known = new Set(specs.map((spec) => spec.name));
  for (const [name, service] of Object.entries(services)) {
    if (isAppService(service) && !known.has(name)) problems.push(`${name}: runs ${APP_IMAGE} but is no process of the local stack`);
  }
  return problems;
}

/** A compose value with each `${VAR:-default}` replaced by its default: what runs when the
 * environment sets nothing (an image the environment may replace, e.g. NATS_IMAGE). */
export function withDefaults(value: string): string {
  return value.replace(/\$\{\w+:-([^}]*)\}/g, (_whole, fallback: string) => fallback);
}
