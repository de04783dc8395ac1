// The JetStream source (docs/design.md §6) wired together: NATS connection, one standing pull
// feed per consumer, plain-publish acks, the HTTP poster, the deliverer, the dispatcher, the
// pause gate of its queues, /healthz + /metrics, the consumer-lag refresher and drain.
// The entry file (index.ts) owns process concerns; this module returns a `stop`.
import { jetstreamManager, JetStreamApiError, type JetStreamManager } from '@nats-io/jetstream';
import type { ConsumerSpec } from '../shared/contract';
import { describeError } from '../shared/errors';
import type { Logger } from '../shared/logger';
import { createInbox } from '@nats-io/transport-node';
import { connectNats, createPublisher, toInboxPrefix, type NatsConnection } from '../shared/nats';
import type { SourceConfig } from './config';
import { createAcks, type Acks } from './acks';
import { createBatchPoster, type BatchPoster } from './batch-poster';
import { createDeliverer, type Deliverer } from './delivery';
import { createDispatcher, type Dispatcher } from './dispatcher';
import { createPoster, type Poster } from '../shared/http-poster';
import { getMeter } from '../shared/metrics';
import { createSourceOtelMetrics } from './otel-metrics';
import { createSourceMetrics, type MetricsSnapshot, type SourceMetrics } from './metrics';
import { createQueuePauses, type QueuePauses } from '../shared/queue-pauses';
import { startPauseGate } from './pause-gate';
import { createPullFeed, type FeedConnection, type PulledMessage, type PullFeed } from './pull-feed';
import { waitForSink } from './sink-ready';
import { createStatusServer, listen, type SourceState } from './status-server';

export type SourceDeps = {
  logger: Logger;
  /** HTTP to the sink (a keep-alive poster by default). */
  poster?: Poster;
  now?: () => number;
  /** How often consumer lag is refreshed for /metrics. */
  lagRefreshMs?: number;
  /** Where the pause state of the queues comes from (shared/queue-pauses.ts on `nc` by default). */
  pauses?: Pick<QueuePauses, 'watch'>;
  /** A NATS connection shared with other sources of the same process (host.ts), which owns it:
   * this source then neither opens one nor drains it on stop. */
  connection?: SharedConnection;
  /** Whether its /metrics serves the process's OpenTelemetry series too (default true; of several
   * hosted sources, only the first). */
  processSeries?: boolean;
};

export type SharedConnection = { nc: NatsConnection; jsm: JetStreamManager };

export type RunningSource = {
  /** Port of /healthz and /metrics. */
  readonly port: number;
  metrics(): MetricsSnapshot;
  inFlight(): number;
  stop(): Promise<void>;
};

/** A batch stays well under the functions' body limit (TM_BODY_LIMIT_BYTES, 1 MiB by default). */
const BATCH_MAX_BYTES = 256 * 1024;
/** Batch requests in flight at once: enough to keep the stage busy while the next one fills. */
const BATCH_MAX_CONCURRENT = 4;

/** Heartbeat of a waiting pull request: a request lost with its server is noticed after two. */
const PULL_HEARTBEAT_MS = 5_000;

async function assertConsumersExist(jsm: JetStreamManager, consumers: readonly ConsumerSpec[]): Promise<void> {
  for (const consumer of consumers) {
    try {
      await jsm.consumers.info(consumer.stream, consumer.durable);
    } catch (error) {
      if (error instanceof JetStreamApiError && (error.code === 10014 || error.code === 10059)) {
        throw new Error(
          `consumer ${consumer.stream}/${consumer.durable} does not exist: run the setup step (setupFlow) first`,
          { cause: error },
        );
      }
      throw error;
    }
  }
}

export async function startSource(config: SourceConfig, deps: SourceDeps): Promise<RunningSource> {
  const { logger } = deps;
  const { nc, jsm } = await connectToConsumers(config, logger, deps.connection);
  const ownsConnection = deps.connection === undefined;
  // Nothing is pulled before the pause state of the source's queues is known (pause-gate.ts).
  const state: SourceState = { connected: true, draining: false, pausesKnown: false };
  const metrics = createSourceMetrics(config.consumers);
  const acks = createAcks((subject, payload) => nc.publish(subject, payload));
  const poster = deps.poster ?? createPoster(config.sink, { maxSockets: config.maxInFlight });
  const deliverer = createDeliverer({
    functionName: config.functionName,
    sink: config.sink,
    requestTimeoutMs: config.requestTimeoutMs,
    flow: config.flow,
    acks,
    publisher: createPublisher(nc, { inboxPrefix: toInboxPrefix(config.nats.auth) }),
    poster,
    now: deps.now ?? Date.now,
    logger,
    metrics,
    otel: createSourceOtelMetrics(getMeter(), config.consumers, () => metrics.snapshot().outcomes),
    batch: createBatchPosterFor(config, poster),
  });
  const heartbeatMs = Math.min(PULL_HEARTBEAT_MS, Math.floor(config.pollExpiresMs / 3));
  const { feeds, dispatcher } = createFeedsAndDispatcher(config, { nc, acks, deliverer, metrics, logger, state, heartbeatMs });
  // A request lost with its server sends nothing more: after two silent heartbeats, pull again.
  const aliveTimer = setInterval(() => {
    if (feeds.map((feed) => feed.checkAlive()).some(Boolean)) dispatcher.refill();
  }, heartbeatMs);
  watchConnection(nc, state, feeds, dispatcher);
  const pauses = startPauseGate({
    watch: (deps.pauses ?? createQueuePauses(nc, { logger })).watch,
    consumers: config.consumers,
    dispatcher,
    setKnown: (known) => (state.pausesKnown = known),
  });
  const lagTimer = startLagRefresh(jsm, config.consumers, metrics, logger, deps.lagRefreshMs ?? 5_000);

  const server = createStatusServer({
    functionName: config.functionName,
    consumers: config.consumers,
    nc,
    state,
    metrics,
    dispatcher,
    credit: (index) => feeds[index]?.outstanding() ?? 0,
    processSeries: deps.processSeries ?? true,
  });
  let port: number;
  try {
    port = await listen(server, config.port, config.host);
  } catch (error) {
    clearInterval(lagTimer);
    clearInterval(aliveTimer);
    pauses.stop();
    if (ownsConnection) await nc.close().catch(() => undefined);
    throw error;
  }

  // Pull only once the function listens: a delivery refused at startup would cost an attempt.
  const sinkWait = new AbortController();
  void waitForSink(config.sink, { signal: sinkWait.signal, logger }).then((reachable) => {
    if (reachable && !state.draining) dispatcher.start();
  });
  logger.info(
    { host: config.host, port, sink: config.sink, consumers: config.consumers.map((c) => c.durable), maxInFlight: config.maxInFlight },
    'source started',
  );

  let stopping: Promise<void> | undefined;
  return {
    port,
    metrics: () => metrics.snapshot(),
    inFlight: () => dispatcher.inFlight(),
    stop() {
      stopping ??= (async () => {
        state.draining = true;
        sinkWait.abort();
        logger.info({ inFlight: dispatcher.inFlight() }, 'draining');
        const settled = await dispatcher.stop(config.shutdownGraceMs);
        clearInterval(lagTimer);
        clearInterval(aliveTimer);
        pauses.stop();
        for (const feed of feeds) feed.close();
        poster.close();
        server.close();
        server.closeAllConnections();
        if (ownsConnection) await nc.drain().catch(() => undefined);
        logger.info({ settled }, 'stopped');
      })();
      return stopping;
    },
  };
}

/** The NATS connection (the shared one, or a new one), once every consumer of the config is known to exist. */
async function connectToConsumers(config: SourceConfig, logger: Logger, shared: SharedConnection | undefined): Promise<SharedConnection> {
  if (shared) {
    await assertConsumersExist(shared.jsm, config.consumers);
    return shared;
  }
  const nc: NatsConnection = await connectNats({ ...config.nats, name: config.component, logger });
  try {
    const jsm = await jetstreamManager(nc);
    await assertConsumersExist(jsm, config.consumers);
    return { nc, jsm };
  } catch (error) {
    await nc.close().catch(() => undefined);
    throw error;
  }
}

/** Batch mode for the stages that take several events per request (TM_SOURCE_BATCH_MAX_EVENTS). */
function createBatchPosterFor(config: SourceConfig, poster: Poster): BatchPoster | undefined {
  if (config.batchMaxEvents <= 1) return undefined;
  return createBatchPoster({
    poster,
    requestTimeoutMs: config.requestTimeoutMs,
    maxEvents: config.batchMaxEvents,
    maxBytes: BATCH_MAX_BYTES,
    maxConcurrent: BATCH_MAX_CONCURRENT,
  });
}

type FeedParts = {
  nc: NatsConnection;
  acks: Acks;
  deliverer: Deliverer;
  metrics: SourceMetrics;
  logger: Logger;
  state: SourceState;
  heartbeatMs: number;
};

/**
 * One standing pull feed per consumer (index = priority) and the dispatcher over them. Each
 * needs the other: the dispatcher's port reads the feeds, and the feeds hand it what arrives.
 */
function createFeedsAndDispatcher(config: SourceConfig, parts: FeedParts): { feeds: PullFeed[]; dispatcher: Dispatcher<PulledMessage> } {
  const { nc, acks, deliverer, metrics, logger, state } = parts;
  const consumers = config.consumers;
  const feeds: PullFeed[] = [];
  const dispatcher = createDispatcher<PulledMessage>(
    {
      consumerCount: consumers.length,
      outstanding: (index) => feeds[index]?.outstanding() ?? 0,
      probing: (index) => feeds[index]?.probing() ?? false,
      pull: (index, count, mode) => feeds[index]?.pull(count, mode),
      cancel: (index) => feeds[index]?.cancel(),
      deliver: (message, abandon) => deliverer.deliver(message, abandon),
      working: (message) => acks.working(message),
      release: (message) => acks.nak(message, 0),
    },
    {
      maxInFlight: config.maxInFlight,
      workingIntervalMs: Math.max(100, Math.floor(config.flow.ackWaitMs / 3)),
      logger,
      canPull: () => state.connected && !state.draining && state.pausesKnown,
    },
  );
  const inboxPrefix = toInboxPrefix(config.nats.auth);
  const feedOptions = { inbox: () => createInbox(inboxPrefix), expiresMs: config.pollExpiresMs, heartbeatMs: parts.heartbeatMs, now: Date.now };
  consumers.forEach((consumer, index) => {
    feeds.push(
      createPullFeed(nc as unknown as FeedConnection, consumer, index, feedOptions, {
        message: (message, pendingAfter) => dispatcher.accept(index, message, pendingAfter),
        creditChanged: () => dispatcher.refill(),
        problem: (description) => {
          metrics.recordPullError();
          logger.warn({ consumer: consumer.durable }, description);
        },
      }),
    );
  });
  return { feeds, dispatcher };
}

/** Tracks the connection; after a reconnect, pulls again (the server may not know our requests). */
function watchConnection(nc: NatsConnection, state: SourceState, feeds: readonly PullFeed[], dispatcher: Dispatcher<PulledMessage>): void {
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') state.connected = false;
      if (status.type === 'reconnect') {
        state.connected = true;
        // The restarted (or reconnected) server may not know our waiting requests: ask again.
        for (const feed of feeds) feed.reset();
        dispatcher.refill();
      }
    }
  })();
}

/** Refreshes consumer lag for /metrics now and every `intervalMs`; returns the timer. */
function startLagRefresh(
  jsm: JetStreamManager,
  consumers: readonly ConsumerSpec[],
  metrics: SourceMetrics,
  logger: Logger,
  intervalMs: number,
): NodeJS.Timeout {
  const refreshLag = async () => {
    for (const consumer of consumers) {
      try {
        const info = await jsm.consumers.info(consumer.stream, consumer.durable);
        metrics.setLag(consumer, { pending: info.num_pending, ackPending: info.num_ack_pending });
      } catch (error) {
        logger.debug({ err: describeError(error), consumer: consumer.durable }, 'consumer lag not refreshed');
      }
    }
  };
  void refreshLag();
  return setInterval(() => void refreshLag(), intervalMs);
}
