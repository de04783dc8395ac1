// The gateway's settings, read once from the environment and frozen. Pure over its inputs: the
// entry file passes process.env, the script path and the working directory.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createEnvReader, readConnectionSettings, readListenHost, readLogLevel, readRetentionSeconds, type Env, type EnvReader, type NatsSettings, type RedisSettings } from '../shared/config';
import { describeError } from '../shared/errors';
import { readQueueStatsSettings, type QueueStatsSettings } from '../shared/queue-stats';
import { readTaskTypes } from '../shared/task-registry';
import type { TaskTypeSpec } from '../shared/task-types';
import { GATEWAY_METRICS_PORT, GATEWAY_PORT } from '../shared/topology';
import { DEFAULT_TENANT, parseApiKeys, TENANT_PATTERN, type ApiKey, type KeySource } from './auth';
import { PROTO_FILE } from './proto';
import type { GatewayTls } from './tls';

/** nats-server's default max_payload: one published task event must fit in it. */
export const NATS_MAX_PAYLOAD_BYTES = 1024 * 1024;

export type GatewayConfig = {
  readonly port: number;
  /** GET /metrics, with TM_METRICS=prometheus (metrics-server.ts); read either way. */
  readonly metricsPort: number;
  /** Address the gRPC server binds (HOST; loopback by default). */
  readonly host: string;
  readonly natsUrl: string;
  /** Without credentials. */
  readonly redisUrl: string;
  readonly nats: NatsSettings;
  readonly redis: RedisSettings;
  /** Digests of the API keys of TM_API_KEYS and TM_API_KEYS_FILE; empty = authentication off. */
  readonly apiKeys: readonly ApiKey[];
  /** TM_TLS_CERT_FILE + TM_TLS_KEY_FILE: serve gRPC over TLS (read at startup, tls.ts); unset = h2c. */
  readonly tls: GatewayTls | undefined;
  /** Largest accepted `payload`, in UTF-8 bytes (INVALID_ARGUMENT above it). */
  readonly maxPayloadBytes: number;
  /** gRPC receive limit; never above NATS max_payload, so what is accepted can be published. */
  readonly grpcMaxReceiveBytes: number;
  /** Largest task event the gateway publishes (NATS max_payload). */
  readonly maxEventBytes: number;
  readonly idempotencyTtlSeconds: number;
  readonly publishTimeoutMs: number;
  readonly shutdownGraceMs: number;
  /** Share of the TASKS stream's MaxMsgs/MaxBytes that SubmitTask leaves to the stages (backlog.ts). */
  readonly backlogReservePercent: number;
  readonly protoDir: string;
  readonly logLevel: string;
  /** The built-ins and the registry file's types (TM_TASK_TYPES_FILE): ListTaskTypes and the
   * attempt limit of each type. */
  readonly taskTypes: readonly TaskTypeSpec[];
  /** TM_RETENTION_SECONDS: how long a task is kept once cancelled (the notifier's setting for the rest). */
  readonly retentionSeconds: number;
  /** Tenants that may act on the deployment's queues (PauseQueue, ResumeQueue) and see their
   * depths in GetQueueStats (TM_OPERATOR_TENANTS; `default` while authentication is off). */
  readonly operatorTenants: ReadonlySet<string>;
  /** GetQueueStats: how long it reuses what it read from JetStream, and the dead-letter cap it shows. */
  readonly queueStats: QueueStatsSettings;
};

export type PathContext = {
  /** process.argv[1]: the bundle runs from dist/, where the build copies proto/. */
  scriptPath?: string | undefined;
  cwd: string;
  exists?: (path: string) => boolean;
  /** Reads TM_API_KEYS_FILE (default: the file system, UTF-8). */
  readFile?: (path: string) => string;
};

function readApiKeys(reader: EnvReader, env: Env, readFile: (path: string) => string): ApiKey[] {
  const sources: KeySource[] = [];
  // Read raw: keys are never part of a problem message, so the generic reader is not used.
  const list = env.TM_API_KEYS;
  if (list !== undefined && list.trim() !== '') sources.push({ variable: 'TM_API_KEYS', text: list, format: 'list' });
  const file = env.TM_API_KEYS_FILE?.trim();
  if (file) {
    try {
      sources.push({ variable: 'TM_API_KEYS_FILE', text: readFile(file), format: 'lines' });
    } catch (error) {
      reader.problem(`TM_API_KEYS_FILE: cannot read "${file}": ${describeError(error)}`);
    }
  }
  const { keys, problems } = parseApiKeys(sources);
  for (const problem of problems) reader.problem(problem);
  return keys;
}

/**
 * TM_OPERATOR_TENANTS: comma-separated tenants. A paused queue stops every tenant's tasks, so
 * only these may pause one; while authentication is off every caller is `default`, the operator.
 */
function readOperatorTenants(reader: EnvReader, authenticated: boolean): ReadonlySet<string> {
  const text = reader.string('TM_OPERATOR_TENANTS', authenticated ? '' : DEFAULT_TENANT);
  const tenants = text.split(',').map((tenant) => tenant.trim()).filter((tenant) => tenant !== '');
  const bad = tenants.find((tenant) => !TENANT_PATTERN.test(tenant));
  if (bad !== undefined) reader.problem(`TM_OPERATOR_TENANTS: "${bad}" is not a tenant name (${TENANT_PATTERN.source})`);
  return new Set(tenants);
}

function readTls(reader: EnvReader): GatewayTls | undefined {
  const cert = reader.string('TM_TLS_CERT_FILE', '');
  const key = reader.string('TM_TLS_KEY_FILE', '');
  if ((cert === '') !== (key === '')) {
    reader.problem(`TM_TLS_CERT_FILE and TM_TLS_KEY_FILE go together (${cert === '' ? 'TM_TLS_CERT_FILE' : 'TM_TLS_KEY_FILE'} is not set)`);
  }
  if (cert === '' || key === '') return undefined;
  return Object.freeze({ cert: { variable: 'TM_TLS_CERT_FILE', path: cert }, key: { variable: 'TM_TLS_KEY_FILE', path: key } });
}

export function loadGatewayConfig(env: Env, paths: PathContext): GatewayConfig {
  const reader = createEnvReader(env);
  const exists = paths.exists ?? existsSync;
  const port = reader.int('PORT', GATEWAY_PORT, { min: 0, max: 65_535 });
  const metricsPort = reader.int('TM_METRICS_PORT', GATEWAY_METRICS_PORT, { min: 0, max: 65_535 });
  const host = readListenHost(reader);
  const connections = readConnectionSettings(reader);
  const grpcMaxReceiveBytes = reader.int('TM_GRPC_MAX_RECEIVE_BYTES', NATS_MAX_PAYLOAD_BYTES, {
    min: 4096,
    max: NATS_MAX_PAYLOAD_BYTES,
  });
  const maxPayloadBytes = reader.int('TM_MAX_PAYLOAD_BYTES', 256 * 1024, { min: 1 });
  if (maxPayloadBytes >= grpcMaxReceiveBytes) {
    reader.problem(
      `TM_MAX_PAYLOAD_BYTES (${maxPayloadBytes}) must be below TM_GRPC_MAX_RECEIVE_BYTES (${grpcMaxReceiveBytes}), ` +
        'or an oversized payload is cut off by gRPC before the gateway can name it',
    );
  }
  const idempotencyTtlSeconds = reader.int('TM_IDEMPOTENCY_TTL_SECONDS', 86_400, { min: 1 });
  const publishTimeoutMs = reader.int('TM_PUBLISH_TIMEOUT_MS', 5_000, { min: 100 });
  const shutdownGraceMs = reader.int('TM_SHUTDOWN_GRACE_MS', 25_000, { min: 0 });
  const backlogReservePercent = reader.int('TM_BACKLOG_RESERVE_PERCENT', 5, { min: 0, max: 90 });
  const logLevel = readLogLevel(reader);
  const apiKeys = readApiKeys(reader, env, paths.readFile ?? ((path) => readFileSync(path, 'utf8')));
  const tls = readTls(reader);
  const retentionSeconds = readRetentionSeconds(reader);
  const taskTypes = readTaskTypes(reader, paths.readFile);
  const operatorTenants = readOperatorTenants(reader, apiKeys.length > 0);
  const queueStats = readQueueStatsSettings(reader);

  const candidates = [
    ...(paths.scriptPath ? [join(dirname(paths.scriptPath), 'proto')] : []),
    join(paths.cwd, 'proto'),
  ];
  const explicit = env.TM_PROTO_DIR?.trim();
  let protoDir = explicit || candidates.find((dir) => exists(join(dir, PROTO_FILE))) || '';
  if (explicit && !exists(join(explicit, PROTO_FILE))) {
    reader.problem(`TM_PROTO_DIR: ${join(explicit, PROTO_FILE)} does not exist`);
  }
  if (!protoDir) {
    reader.problem(`${PROTO_FILE} not found in ${candidates.join(' or ')}: set TM_PROTO_DIR`);
    protoDir = candidates[0] ?? '';
  }
  reader.finish();

  return Object.freeze({
    port,
    metricsPort,
    host,
    natsUrl: connections.natsUrl,
    redisUrl: connections.redisUrl,
    nats: connections.nats,
    redis: connections.redis,
    apiKeys: Object.freeze(apiKeys),
    tls,
    maxPayloadBytes,
    grpcMaxReceiveBytes,
    maxEventBytes: NATS_MAX_PAYLOAD_BYTES,
    idempotencyTtlSeconds,
    publishTimeoutMs,
    shutdownGraceMs,
    backlogReservePercent,
    protoDir,
    logLevel,
    taskTypes,
    retentionSeconds,
    operatorTenants,
    queueStats,
  });
}
