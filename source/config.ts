// The source's one validated, frozen config, read from the environment by a pure function that
// lists every problem at once (docs/design.md §6: the same settings on Knative, compose and plain
// Kubernetes). Only source/index.ts passes `process.env` in.
import { createEnvReader, readFlowSettings, readListenHost, readLogLevel, readNatsSettings, type Env, type NatsSettings } from '../shared/config';
import { ALL_CONSUMERS, type ConsumerSpec, type FlowSettings } from '../shared/contract';
import { FUNCTIONS, type FunctionName, type FunctionSpec } from '../shared/topology';

export type SourceConfig = Readonly<{
  /** The function this source feeds (names the dead-letter stage `source:<function>`). */
  functionName: FunctionName;
  /** Component name in logs, CloudEvent sources and traces: `source-<function>`. */
  component: string;
  natsUrl: string;
  /** Server URL(s), credentials and TLS (NATS_URL, NATS_USER/NATS_PASSWORD or NATS_TOKEN, NATS_TLS_*). */
  nats: NatsSettings;
  /** Where deliveries go (Knative injects K_SINK). */
  sink: string;
  /** Durable pull consumers, highest priority first. */
  consumers: readonly ConsumerSpec[];
  maxInFlight: number;
  /** HTTP timeout of one delivery; must cover a Knative cold start (activator holds the request). */
  requestTimeoutMs: number;
  /** Most events per delivery request (CloudEvents batch mode); 1: one event per request. */
  batchMaxEvents: number;
  /** How long an idle long-poll pull waits on the server before it is re-issued. */
  pollExpiresMs: number;
  /** Port of /healthz and /metrics. */
  port: number;
  /** Address /healthz and /metrics bind (HOST; loopback by default). */
  host: string;
  shutdownGraceMs: number;
  logLevel: string;
  flow: FlowSettings;
}>;


const SOURCED_FUNCTIONS = FUNCTIONS.filter((fn) => fn.consumers.length > 0);

function readFunction(name: string, problem: (message: string) => void): FunctionSpec | undefined {
  if (name === '') return undefined;
  const spec = FUNCTIONS.find((fn) => fn.name === name);
  if (!spec) {
    problem(`TM_SOURCE_FUNCTION must be one of ${SOURCED_FUNCTIONS.map((fn) => fn.name).join(', ')}, got "${name}"`);
  }
  return spec;
}

function readConsumers(
  raw: string | undefined,
  spec: FunctionSpec | undefined,
  problem: (message: string) => void,
): ConsumerSpec[] {
  if (raw === undefined || raw.trim() === '') {
    if (spec && spec.consumers.length === 0) {
      problem(`TM_SOURCE_FUNCTION "${spec.name}" reads no consumer (it is called over plain HTTP): set TM_SOURCE_CONSUMERS or pick another function`);
    }
    return spec ? [...spec.consumers] : [];
  }
  const names = raw.split(',').map((name) => name.trim());
  const consumers: ConsumerSpec[] = [];
  for (const name of names) {
    const consumer = ALL_CONSUMERS.find((candidate) => candidate.durable === name);
    if (!consumer) {
      problem(
        `TM_SOURCE_CONSUMERS: unknown consumer "${name}" (known: ${ALL_CONSUMERS.map((c) => c.durable).join(', ')})`,
      );
    } else if (consumers.includes(consumer)) {
      problem(`TM_SOURCE_CONSUMERS lists "${name}" twice`);
    } else {
      consumers.push(consumer);
    }
  }
  return consumers;
}

/** Reads and validates the source's settings; throws ConfigError listing every problem. */
export function loadSourceConfig(env: Env): SourceConfig {
  const reader = createEnvReader(env);
  const functionName = reader.string('TM_SOURCE_FUNCTION');
  const spec = readFunction(functionName, reader.problem);
  const consumers = readConsumers(env.TM_SOURCE_CONSUMERS, spec, reader.problem);
  const nats = readNatsSettings(reader);
  const sink = reader.url('K_SINK');
  if (sink !== '' && URL.canParse(sink) && !['http:', 'https:'].includes(new URL(sink).protocol)) {
    reader.problem(`K_SINK must be an http(s) URL, got "${sink}"`);
  }
  const maxInFlight = reader.int('TM_SOURCE_MAX_IN_FLIGHT', spec?.maxInFlight || 16, { min: 1, max: 10_000 });
  const requestTimeoutMs = reader.int('TM_SOURCE_REQUEST_TIMEOUT_MS', spec?.requestTimeoutMs ?? 60_000, { min: 1 });
  // 1 turns batching off; the stage must accept batches (its handler's acceptsBatches), or every
  // batch is answered as a whole and its events go again one by one.
  const batchMaxEvents = reader.int('TM_SOURCE_BATCH_MAX_EVENTS', spec?.batchMaxEvents ?? 1, { min: 1, max: 1_000 });
  const pollExpiresMs = reader.int('TM_SOURCE_POLL_EXPIRES_MS', 5_000, { min: 100, max: 60_000 });
  const port = reader.int('PORT', spec?.sourcePort ?? 0, { min: 0, max: 65_535 });
  const host = readListenHost(reader);
  const shutdownGraceMs = reader.int('TM_SHUTDOWN_GRACE_MS', 25_000, { min: 0 });
  const logLevel = readLogLevel(reader);
  const flow = readFlowSettings(reader);
  reader.finish();

  return Object.freeze({
    functionName: functionName as FunctionName,
    component: `source-${functionName}`,
    natsUrl: nats.url,
    nats,
    sink,
    consumers: Object.freeze(consumers),
    maxInFlight,
    requestTimeoutMs,
    batchMaxEvents,
    pollExpiresMs,
    port,
    host,
    shutdownGraceMs,
    logLevel,
    flow,
  });
}
