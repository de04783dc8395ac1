// What every function's entry file calls: read the common config, connect NATS and Redis,
// build the stage's handler from its deps, serve it, and drain on shutdown. The entry file
// owns process concerns (signals, exit codes); this module only returns a `stop`.
import { createEnvReader, readConnectionSettings, readFlowSettings, readListenHost, readLogLevel, type Env, type EnvReader } from '../config';
import type { FlowSettings } from '../contract';
import { createLogger, type Logger } from '../logger';
import { connectNats, createPublisher, toInboxPrefix, type NatsConnection, type Publisher } from '../nats';
import { connectRedis, type Redis } from '../redis';
import { findFunction, type FunctionName } from '../topology';
import { createFunctionApp, type EventHandler } from './function-app';
import { addMetricsRoute } from './metrics-route';
import type { Router } from './http-router';
import { runUntilSignalled } from './process-main';

export type CommonDeps = {
  logger: Logger;
  flow: FlowSettings;
  publisher: Publisher;
  redis: Redis;
  nats: NatsConnection;
  now: () => number;
};

export type FunctionDefinition<C> = {
  name: FunctionName;
  /** Reads the stage's own settings (the reader collects problems; do not throw). */
  readConfig: (reader: EnvReader) => C;
  /** Checks and loads what the config names (files, modules) before any connection is made, so
   * a bad setting stops the start at once, not after the connection retries; returns the config
   * to use (throw a ConfigError listing every problem). */
  prepare?: (config: C, flow: FlowSettings) => Promise<C>;
  createHandler: (deps: CommonDeps, config: C) => EventHandler | Promise<EventHandler>;
  /** Extra HTTP routes beside the CloudEvents endpoint (e.g. GET /results/:id), on the runtime's
   * router: `app.get('/metrics', (_req, res) => res.status(200).type('text/plain').send(text))`. */
  routes?: (app: Router, deps: CommonDeps, config: C) => void;
  /** Background work beside the HTTP handler (e.g. the delayed-task promoter); returns a stopper. */
  startBackground?: (deps: CommonDeps, config: C) => () => Promise<void>;
};

export type RunningFunction = { port: number; stop(): Promise<void> };

/** Both connections, or the first failure at once; a connection that opens after the other
 * failed is closed again, so a failed start leaves no socket behind. */
async function connectBoth(natsConnecting: Promise<NatsConnection>, redisConnecting: Promise<Redis>): Promise<[NatsConnection, Redis]> {
  try {
    return await Promise.all([natsConnecting, redisConnecting]);
  } catch (error) {
    natsConnecting.then((nc) => nc.close(), () => undefined).catch(() => undefined);
    redisConnecting.then((redis) => redis.disconnect(), () => undefined).catch(() => undefined);
    throw error;
  }
}

export async function startFunction<C>(definition: FunctionDefinition<C>, env: Env): Promise<RunningFunction> {
  const reader = createEnvReader(env);
  const spec = findFunction(definition.name);
  const port = reader.int('PORT', spec.port, { min: 0, max: 65535 });
  const host = readListenHost(reader);
  const connections = readConnectionSettings(reader);
  const flow = readFlowSettings(reader);
  const bodyLimitBytes = reader.int('TM_BODY_LIMIT_BYTES', 1024 * 1024, { min: 1024 });
  const graceMs = reader.int('TM_SHUTDOWN_GRACE_MS', 25_000, { min: 0 });
  const logLevel = readLogLevel(reader);
  const readConfig = definition.readConfig(reader);
  reader.finish();
  const stageConfig = definition.prepare ? await definition.prepare(readConfig, flow) : readConfig;

  const logger = createLogger(definition.name, logLevel);
  // Both at once: a cold start waits for the slower of the two, not for their sum.
  const [nats, redis] = await connectBoth(
    connectNats({ ...connections.nats, name: definition.name, logger }),
    connectRedis({ ...connections.redis, name: definition.name, logger }),
  );
  const deps: CommonDeps = { logger, flow, publisher: createPublisher(nats, { inboxPrefix: toInboxPrefix(connections.nats.auth) }), redis, nats, now: Date.now };
  const handler = await definition.createHandler(deps, stageConfig);
  const app = createFunctionApp({
    component: definition.name,
    handler,
    logger,
    bodyLimitBytes,
    isReady: () => !nats.isClosed() && redis.status === 'ready',
  });
  // With metrics on, GET /metrics serves them on the function's own port (a stage with series of
  // its own, the scheduler, replaces the route and appends these: shared/metrics.ts).
  addMetricsRoute(app.router);
  definition.routes?.(app.router, deps, stageConfig);
  const server = await app.listen(port, host);
  const address = server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  const stopBackground = definition.startBackground?.(deps, stageConfig);
  logger.info({ host, port: boundPort }, `${definition.name} listening`);

  return {
    port: boundPort,
    async stop() {
      logger.info('draining');
      await stopBackground?.();
      await app.drain(graceMs);
      await nats.drain().catch(() => undefined);
      redis.disconnect();
      logger.info('stopped');
    },
  };
}

/** The entry-file boilerplate: start, stop on SIGTERM/SIGINT, exit 0 when drained. */
export function runFunctionMain<C>(definition: FunctionDefinition<C>): void {
  runUntilSignalled(definition.name, () => startFunction(definition, process.env));
}
