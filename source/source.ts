// The JetStream source (docs/design.md §6) wired together: NATS connection, one standing pull
// feed per consumer, plain-publish acks, the HTTP poster, the deliverer, the dispatcher, /healthz
// + /metrics, the consumer-lag refresher and drain.
// The entry file (index.ts) owns process concerns; this module returns a `stop`.
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { jetstreamManager, JetStreamApiError, type JetStreamManager } from '@nats-io/jetstream';
import type { ConsumerSpec } from '../shared/contract';
import { describeError } from '../shared/errors';
import type { Logger } from '../shared/logger';
import { createInbox } from '@nats-io/transport-node';
import { connectNats, createPublisher, toInboxPrefix, type NatsConnection } from '../shared/nats';
import type { SourceConfig } from './config';
import { createAcks } from './acks';
import { createBatchPoster } from './batch-poster';
import { createDeliverer } from './delivery';
import { createDispatcher } from './dispatcher';
import { createPoster, type Poster } from '../shared/http-poster';
import { createSourceMetrics, renderMetrics, type MetricsSnapshot } from './metrics';
import { createPullFeed, type FeedConnection, type PulledMessage, type PullFeed } from './pull-feed';
import { waitForSink } from './sink-ready';

export type SourceDeps = {
  logger: Logger;
  /** HTTP to the sink (a keep-alive poster by default). */
  poster?: Poster;
  now?: () => number;
  /** How often consumer lag is refreshed for /metrics. */
  lagRefreshMs?: number;
};

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
  const nc: NatsConnection = await connectNats({ ...config.nats, name: config.component, logger });
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc);
    await assertConsumersExist(jsm, config.consumers);
  } catch (error) {
    await nc.close().catch(() => undefined);
    throw error;
  }

  let connected = true;
  let draining = false;
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
    batch:
      config.batchMaxEvents > 1
        ? createBatchPoster({
            poster,
            requestTimeoutMs: config.requestTimeoutMs,
            maxEvents: config.batchMaxEvents,
            maxBytes: BATCH_MAX_BYTES,
            maxConcurrent: BATCH_MAX_CONCURRENT,
          })
        : undefined,
  });
  const consumers = config.consumers;
  const feeds: PullFeed[] = [];
  const dispatcher = createDispatcher<PulledMessage>(
    {
      consumerCount: consumers.length,
      outstanding: (index) => feeds[index]?.outstanding() ?? 0,
      probing: (index) => feeds[index]?.probing() ?? false,
      pull: (index, count, mode) => feeds[index]?.pull(count, mode),
      deliver: (message, abandon) => deliverer.deliver(message, abandon),
      working: (message) => acks.working(message),
      release: (message) => acks.nak(message, 0),
    },
    {
      maxInFlight: config.maxInFlight,
      workingIntervalMs: Math.max(100, Math.floor(config.flow.ackWaitMs / 3)),
      logger,
      canPull: () => connected && !draining,
    },
  );
  const inboxPrefix = toInboxPrefix(config.nats.auth);
  const heartbeatMs = Math.min(PULL_HEARTBEAT_MS, Math.floor(config.pollExpiresMs / 3));
  consumers.forEach((consumer, index) => {
    feeds.push(
      createPullFeed(nc as unknown as FeedConnection, consumer, index, { inbox: createInbox(inboxPrefix), expiresMs: config.pollExpiresMs, heartbeatMs, now: Date.now }, {
        message: (message, pendingAfter) => dispatcher.accept(index, message, pendingAfter),
        creditChanged: () => dispatcher.refill(),
        problem: (description) => {
          metrics.recordPullError();
          logger.warn({ consumer: consumer.durable }, description);
        },
      }),
    );
  });
  // A request lost with its server sends nothing more: after two silent heartbeats, pull again.
  const aliveTimer = setInterval(() => {
    if (feeds.map((feed) => feed.checkAlive()).some(Boolean)) dispatcher.refill();
  }, heartbeatMs);
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') connected = false;
      if (status.type === 'reconnect') {
        connected = true;
        // The restarted (or reconnected) server may not know our waiting requests: ask again.
        for (const feed of feeds) feed.reset();
        dispatcher.refill();
      }
    }
  })();

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
  const lagTimer = setInterval(() => void refreshLag(), deps.lagRefreshMs ?? 5_000);

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/healthz') {
      const healthy = connected && !draining && !nc.isClosed();
      res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: healthy ? 'ok' : 'unavailable', connected, draining }));
      return;
    }
    if (req.method === 'GET' && path === '/metrics') {
      const text = renderMetrics(config.functionName, metrics.snapshot(), {
        inFlight: dispatcher.inFlight(),
        held: dispatcher.held(),
        connected,
        draining,
      });
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(text);
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'NOT_FOUND', message: `no route ${req.method} ${path}` }));
  });
  server.listen(config.port, config.host);
  try {
    await once(server, 'listening');
  } catch (error) {
    clearInterval(lagTimer);
    clearInterval(aliveTimer);
    await nc.close().catch(() => undefined);
    throw error;
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;

  // Pull only once the function listens: a delivery refused at startup would cost an attempt.
  const sinkWait = new AbortController();
  void waitForSink(config.sink, { signal: sinkWait.signal, logger }).then((reachable) => {
    if (reachable && !draining) dispatcher.start();
  });
  logger.info(
    { host: config.host, port, sink: config.sink, consumers: consumers.map((c) => c.durable), maxInFlight: config.maxInFlight },
    'source started',
  );

  let stopping: Promise<void> | undefined;
  return {
    port,
    metrics: () => metrics.snapshot(),
    inFlight: () => dispatcher.inFlight(),
    stop() {
      stopping ??= (async () => {
        draining = true;
        sinkWait.abort();
        logger.info({ inFlight: dispatcher.inFlight() }, 'draining');
        const settled = await dispatcher.stop(config.shutdownGraceMs);
        clearInterval(lagTimer);
        clearInterval(aliveTimer);
        for (const feed of feeds) feed.close();
        poster.close();
        server.close();
        server.closeAllConnections();
        await nc.drain().catch(() => undefined);
        logger.info({ settled }, 'stopped');
      })();
      return stopping;
    },
  };
}
