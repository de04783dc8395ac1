// The gRPC edge: grpc-js handlers over the transport-free service, grpc.health.v1 that follows
// the NATS and Redis connections, server reflection, and a graceful stop. `startGateway`
// connects everything and binds; index.ts owns the process (signals, exit).
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { context, trace, type Context } from '@opentelemetry/api';
import type { HealthImplementation, ServingStatus } from 'grpc-health-check';
import type { ReflectionService } from '@grpc/reflection';
import { jetstreamManager } from '@nats-io/jetstream';
import { STREAM_TASKS } from '../shared/contract';
import { createDeadLetterIndex } from '../shared/dead-letters';
import { createQueuePauses } from '../shared/queue-pauses';
import { getMeter } from '../shared/metrics';
import { startMetricsServer } from './metrics-server';
import { createQueueStatsReader } from '../shared/queue-stats';
import { createSubmitMetrics, observeQueues } from '../shared/task-metrics';
import { createAuditTrail } from '../shared/task-audit';
import { createTaskIndex } from '../shared/task-index';
import { describeError } from '../shared/errors';
import { waitAtMost } from '../shared/wait-at-most';
import type { Logger } from '../shared/logger';
import { connectNats, createPublisher, toInboxPrefix, type NatsConnection } from '../shared/nats';
import { connectRedis } from '../shared/redis';
import { createCancelNotices, createResultReader, createStatusStore, createTaskStore } from '../shared/redis-stores';
import { extractTraceContext } from '../shared/tracing';
import { createAuthenticator, type Authenticator } from './auth';
import { AUTHORIZATION_METADATA, createAuthInterceptor } from './auth-interceptor';
import { createBacklogGuard, type StreamFill } from './backlog';
import type { GatewayConfig } from './config';
import { watchConnections, type ConnectionState } from './connection-state';
import { toGrpcError, type GrpcError } from './errors';
import {
  loadTaskManagerProto,
  PROTO_LOADER_OPTIONS,
  SERVICE_NAME,
  type StreamStatusRequest,
  type TaskStatusUpdate,
} from './proto';
import { createTaskManagerService, type Caller, type ServiceDeps, type ServiceLimits, type TaskManagerService } from './service';
import { connectStatusSubscriber, createStatusHub, type StatusHub } from './status-hub';
import { toServerCredentials } from './tls';

export type GatewayDeps = Omit<ServiceDeps, 'connections' | 'limits' | 'taskTypes'> & { connections: ConnectionState };

export type GatewayServer = {
  server: grpc.Server;
  service: TaskManagerService;
  /** Answers UNAVAILABLE to every open StatusStream (clients resume with after_seq elsewhere). */
  endStreams(reason: string): void;
  setServing(serving: boolean): void;
};

// grpc-health-check and @grpc/reflection read their own .proto files relative to their
// __dirname when loaded; bundled into dist/gateway.cjs that path would not exist, so they are
// loaded from node_modules at run time, as @grpc/grpc-js is (the build keeps it external).
const HEALTH_MODULE = 'grpc-health-check';
const REFLECTION_MODULE = '@grpc/reflection';
const loadExternal = async <T>(specifier: string): Promise<T> => (await import(specifier)) as T;

type HealthModule = typeof import('grpc-health-check');
type ReflectionModule = typeof import('@grpc/reflection');

/**
 * The caller's trace continues into the handler: with the gRPC auto-instrumentation the active
 * context already holds the server span; without it, the W3C headers are read here.
 */
function toParentContext(metadata: grpc.Metadata): Context {
  const active = context.active();
  if (trace.getSpan(active)) return active;
  const first = (key: string) => {
    const value = metadata.get(key)[0];
    return typeof value === 'string' ? value : undefined;
  };
  return extractTraceContext({ traceparent: first('traceparent'), tracestate: first('tracestate') }, active);
}

/** Says once, at startup, whether callers need a key: running without is a deliberate choice. */
function logAuthMode(auth: Authenticator, logger: Logger): void {
  if (auth.enabled) {
    logger.info({ tenants: auth.tenants }, 'API keys configured: every call except health needs "authorization: Bearer <key>"');
  } else {
    logger.warn('no API keys configured (TM_API_KEYS, TM_API_KEYS_FILE): authentication is OFF, every caller is tenant "default"');
  }
}

function toServiceLimits(config: GatewayConfig): ServiceLimits {
  return {
    maxPayloadBytes: config.maxPayloadBytes,
    typeAttempts: new Map(config.taskTypes.map((spec) => [spec.type, spec.maxAttempts])),
    maxEventBytes: config.maxEventBytes,
    idempotencyTtlSeconds: config.idempotencyTtlSeconds,
    publishTimeoutMs: config.publishTimeoutMs,
  };
}

export async function createGatewayServer(config: GatewayConfig, deps: GatewayDeps): Promise<GatewayServer> {
  const { logger } = deps;
  const auth = createAuthenticator(config.apiKeys);
  logAuthMode(auth, logger);
  // The interceptor has already refused calls without a valid key; this only names the tenant.
  const callerOf = (metadata: grpc.Metadata): Caller => ({ tenant: auth.authenticate(metadata.get(AUTHORIZATION_METADATA)) });
  const proto = loadTaskManagerProto(config.protoDir);
  const service = createTaskManagerService({ ...deps, taskTypes: config.taskTypes, limits: toServiceLimits(config) });

  const server = new grpc.Server({
    'grpc.max_receive_message_length': config.grpcMaxReceiveBytes,
    // Pings find clients that vanished without closing, so their streams are released.
    'grpc.keepalive_time_ms': 60_000,
    'grpc.keepalive_timeout_ms': 20_000,
    'grpc.keepalive_permit_without_calls': 1,
    // Without keys every call passes: no interceptor, so no wrapper around each call.
    interceptors: auth.enabled ? [createAuthInterceptor(auth, logger)] : [],
  });

  const unary =
    <Req, Res>(method: string, handle: (request: Req, caller: Caller) => Promise<Res>): grpc.handleUnaryCall<Req, Res> =>
    (call, callback) => {
      context.with(toParentContext(call.metadata), async () => handle(call.request, callerOf(call.metadata))).then(
        (response) => callback(null, response),
        (error: unknown) => callback(toGrpcError(error, logger.child({ rpc: method }))),
      );
    };

  const openStreams = new Set<(error: GrpcError) => void>();
  // One reason for every stream's end: abort() without one builds a DOMException, stack and all,
  // per stream (a visible share of the gateway's CPU under load).
  const ENDED = new Error('status stream ended');
  const streamStatus: grpc.handleServerStreamingCall<StreamStatusRequest, TaskStatusUpdate> = (call) => {
    const abort = new AbortController();
    let failure: GrpcError | undefined;
    const stop = (error: GrpcError) => {
      failure = error;
      abort.abort(ENDED);
    };
    openStreams.add(stop);
    call.on('cancelled', () => abort.abort(ENDED));
    call.on('error', () => abort.abort(ENDED));
    const writer = {
      signal: abort.signal,
      write: (update: TaskStatusUpdate) => {
        if (!call.cancelled && !abort.signal.aborted) call.write(update);
      },
    };
    context
      .with(toParentContext(call.metadata), async () => service.streamStatus(call.request, callerOf(call.metadata), writer))
      .catch((error: unknown) => {
        failure = toGrpcError(error, logger.child({ rpc: 'StreamStatus' }));
      })
      .finally(() => {
        openStreams.delete(stop);
        if (call.cancelled) return;
        if (failure) call.emit('error', failure);
        else call.end();
      });
  };

  server.addService(proto.service, {
    SubmitTask: unary('SubmitTask', service.submitTask),
    GetTask: unary('GetTask', service.getTask),
    GetResult: unary('GetResult', service.getResult),
    CancelTask: unary('CancelTask', service.cancelTask),
    ListTaskTypes: unary('ListTaskTypes', service.listTaskTypes),
    ListTasks: unary('ListTasks', service.listTasks),
    ListDeadLetters: unary('ListDeadLetters', service.listDeadLetters),
    ReplayDeadLetters: unary('ReplayDeadLetters', service.replayDeadLetters),
    ListAuditEvents: unary('ListAuditEvents', service.listAuditEvents),
    GetQueueStats: unary('GetQueueStats', service.getQueueStats),
    PauseQueue: unary('PauseQueue', service.pauseQueue),
    ResumeQueue: unary('ResumeQueue', service.resumeQueue),
    StreamStatus: streamStatus,
  });

  const healthModule = await loadExternal<HealthModule>(HEALTH_MODULE);
  const reflectionModule = await loadExternal<ReflectionModule>(REFLECTION_MODULE);
  const health: HealthImplementation = new healthModule.HealthImplementation({ '': 'NOT_SERVING', [SERVICE_NAME]: 'NOT_SERVING' });
  health.addToServer(server);
  const healthProto: PackageDefinition = loadSync(healthModule.protoPath, PROTO_LOADER_OPTIONS);
  const reflection: ReflectionService = new reflectionModule.ReflectionService({ ...proto.packageDefinition, ...healthProto });
  reflection.addToServer(server);

  let current: ServingStatus | undefined;
  const setServing = (serving: boolean) => {
    const next: ServingStatus = serving ? 'SERVING' : 'NOT_SERVING';
    if (next === current) return;
    current = next;
    health.setStatus('', next);
    health.setStatus(SERVICE_NAME, next);
    logger.info({ health: next }, 'health changed');
  };
  let stopping = false;
  deps.connections.onChange(() => {
    if (!stopping) setServing(deps.connections.isServing());
  });
  setServing(deps.connections.isServing());

  return {
    server,
    service,
    setServing(serving) {
      if (!serving) stopping = true;
      setServing(serving);
    },
    endStreams(reason) {
      for (const stop of [...openStreams]) stop({ code: grpc.status.UNAVAILABLE, details: reason });
    },
  };
}

export type RunningGateway = {
  port: number;
  hub: StatusHub;
  connections: ConnectionState;
  /** Stops taking calls, lets unary calls finish within the grace period, closes connections. */
  stop(): Promise<void>;
};

function bind(server: grpc.Server, host: string, port: number, credentials: grpc.ServerCredentials): Promise<number> {
  // An IPv6 address goes in brackets, as in a URL (grpc-js parses "[::1]:50051").
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (error, bound) =>
      error ? reject(error) : resolve(bound),
    );
  });
}

function shutDown(server: grpc.Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** How stale the TASKS fill level may be when SubmitTask checks it (a STREAM.INFO per period). */
const BACKLOG_READ_MAX_AGE_MS = 100;

async function readTasksFill(nats: NatsConnection): Promise<StreamFill> {
  // No $JS.API.INFO round trip: the gateway's NATS user may read the TASKS stream's info only.
  const jsm = await jetstreamManager(nats, { checkAPI: false });
  const info = await jsm.streams.info(STREAM_TASKS);
  return { messages: info.state.messages, bytes: info.state.bytes, maxMsgs: info.config.max_msgs, maxBytes: info.config.max_bytes };
}

/** Drains NATS, but never waits long for a server that is gone. */
async function closeNats(nats: NatsConnection): Promise<void> {
  await waitAtMost(nats.drain(), 2_000);
  if (!nats.isClosed()) await nats.close().catch(() => undefined);
}

export async function startGateway(
  config: GatewayConfig,
  logger: Logger,
  overrides: Partial<Pick<GatewayDeps, 'now' | 'newId' | 'publisher'>> = {},
): Promise<RunningGateway> {
  // First: a certificate that cannot be read stops the gateway before it connects anywhere.
  const credentials = toServerCredentials(config.tls);
  const nats = await connectNats({ ...config.nats, name: 'gateway', logger });
  const redis = await connectRedis({ ...config.redis, name: 'gateway', logger }).catch(async (error: unknown) => {
    await nats.close();
    throw error;
  });
  const subscriber = await connectStatusSubscriber(redis, 'gateway-status').catch(async (error: unknown) => {
    redis.disconnect();
    await nats.close();
    throw error;
  });
  const connections = watchConnections(nats, [redis, subscriber]);
  const hub = createStatusHub(subscriber, logger.child({ module: 'status-hub' }));
  const stats = createQueueStatsReader({ nc: nats, redis, now: Date.now, ...config.queueStats });
  // The queue gauges come from here, once for the deployment (shared/task-metrics.ts).
  const meter = getMeter();
  observeQueues(meter, stats.queues);
  const gateway = await createGatewayServer(config, {
    stores: {
      tasks: createTaskStore(redis),
      index: createTaskIndex(redis),
      deadLetters: createDeadLetterIndex(redis),
      audit: createAuditTrail(redis),
      status: createStatusStore(redis, { retentionSeconds: config.retentionSeconds }),
      results: createResultReader(redis),
      cancels: createCancelNotices(redis),
    },
    publisher: overrides.publisher ?? createPublisher(nats, { timeoutMs: config.publishTimeoutMs, inboxPrefix: toInboxPrefix(config.nats.auth) }),
    hub,
    connections,
    now: overrides.now ?? Date.now,
    newId: overrides.newId ?? randomUUID,
    logger,
    metrics: createSubmitMetrics(meter, config.taskTypes.map((spec) => spec.type)),
    queues: {
      stats,
      pauses: createQueuePauses(nats, { logger }),
      operatorTenants: config.operatorTenants,
    },
    backlog: createBacklogGuard({
      readFill: () => readTasksFill(nats),
      reservePercent: config.backlogReservePercent,
      maxAgeMs: BACKLOG_READ_MAX_AGE_MS,
      now: Date.now,
      logger,
    }),
  });
  const port = await bind(gateway.server, config.host, config.port, credentials);
  logger.info({ host: config.host, port, tls: config.tls !== undefined }, 'gateway listening');
  const metricsServer = meter ? await startMetricsServer(config.host, config.metricsPort) : undefined;
  if (metricsServer) logger.info({ host: config.host, port: metricsServer.port }, 'metrics on GET /metrics');

  let stopped: Promise<void> | undefined;
  return {
    port,
    hub,
    connections,
    stop() {
      stopped ??= (async () => {
        logger.info('draining');
        gateway.setServing(false);
        gateway.endStreams('gateway is shutting down; reconnect and resume with after_seq');
        await shutDown(gateway.server, config.shutdownGraceMs);
        await metricsServer?.close();
        subscriber.disconnect();
        await redis.quit().catch((error: unknown) => {
          logger.debug({ err: describeError(error) }, 'redis quit failed');
          redis.disconnect();
        });
        await closeNats(nats);
        logger.info('stopped');
      })();
      return stopped;
    },
  };
}
