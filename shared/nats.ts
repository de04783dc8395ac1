// NATS connection, the idempotent stream/consumer setup of DESIGN §4 and the event publisher.
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  jetstream,
  jetstreamManager,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type StreamConfig,
} from '@nats-io/jetstream';
import { ALL_CONSUMERS, STREAM_SUBJECTS, type FlowSettings } from './contract';
import { BacklogFullError, DependencyUnavailableError, describeError } from './errors';
import { toWireBytes, type WireEvent } from './events';
import type { Logger } from './logger';
import { injectTraceContext, withSpan } from './tracing';
import { SpanKind } from '@opentelemetry/api';

export type { NatsConnection } from '@nats-io/transport-node';

export type NatsOptions = {
  url: string;
  name: string;
  logger: Logger;
  user?: string;
  pass?: string;
  token?: string;
};

/** Connects and keeps reconnecting forever: outages are survived, not fatal. */
export async function connectNats(options: NatsOptions): Promise<NatsConnection> {
  const nc = await connect({
    servers: options.url.split(','),
    name: options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: true,
    ...(options.user ? { user: options.user, pass: options.pass ?? '' } : {}),
    ...(options.token ? { token: options.token } : {}),
  });
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' || status.type === 'reconnect') {
        options.logger.warn({ nats: status.type }, 'nats connection %s', status.type);
      }
    }
  })();
  return nc;
}

export function toStreamConfig(name: string, settings: FlowSettings): Partial<StreamConfig> & { name: string } {
  const subjects = STREAM_SUBJECTS[name];
  if (!subjects) throw new Error(`unknown stream ${name}`);
  return {
    name,
    subjects: [...subjects],
    storage: StorageType.File,
    retention: RetentionPolicy.Interest,
    discard: DiscardPolicy.New,
    max_age: nanos(settings.maxAgeMs),
    max_msgs: settings.maxMsgs,
    max_bytes: settings.maxBytes,
    duplicate_window: nanos(settings.duplicateWindowMs),
    num_replicas: 1,
  };
}

/**
 * Creates or updates both streams and every consumer. Consumers are created here, before
 * anything publishes, because with interest retention a message on a subject that no consumer
 * covers is dropped at once.
 */
export async function setupFlow(nc: NatsConnection, settings: FlowSettings, logger: Logger): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (const name of Object.keys(STREAM_SUBJECTS)) {
    const config = toStreamConfig(name, settings);
    try {
      await jsm.streams.info(name);
      const { name: _name, storage: _storage, retention: _retention, ...mutable } = config;
      await jsm.streams.update(name, mutable);
      logger.info({ stream: name }, 'stream updated');
    } catch (error) {
      if (!(error instanceof JetStreamApiError) || error.code !== 10059) throw error;
      await jsm.streams.add(config);
      logger.info({ stream: name }, 'stream created');
    }
  }
  for (const spec of ALL_CONSUMERS) {
    // No BackOff list: with one, nats-server uses its first value as the first ack deadline
    // and a plain nak() ignores it. The source applies the retry delays with nak(delay).
    const config = {
      durable_name: spec.durable,
      filter_subject: spec.filterSubject,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(settings.ackWaitMs),
      max_deliver: settings.maxDeliver,
      max_ack_pending: 10_000,
    };
    try {
      await jsm.consumers.info(spec.stream, spec.durable);
      const { durable_name: _d, deliver_policy: _p, ...mutable } = config;
      await jsm.consumers.update(spec.stream, spec.durable, mutable);
    } catch (error) {
      if (!(error instanceof JetStreamApiError) || error.code !== 10014) throw error;
      await jsm.consumers.add(spec.stream, config);
    }
  }
  logger.info({ consumers: ALL_CONSUMERS.length }, 'consumers ready');
}

export type Publisher = {
  /** Publishes a structured CloudEvent and resolves once JetStream has stored it (PubAck). */
  publish(subject: string, event: WireEvent): Promise<void>;
};

const FULL_STREAM = /maximum (messages|bytes) exceeded|resource limits exceeded|insufficient resources/i;

export function createPublisher(nc: NatsConnection, options: { timeoutMs?: number } = {}): Publisher {
  const js: JetStreamClient = jetstream(nc, { timeout: options.timeoutMs ?? 5_000 });
  return {
    async publish(subject, event) {
      await withSpan(`publish ${subject}`, SpanKind.PRODUCER, { 'messaging.destination.name': subject }, async () => {
        const traced = injectTraceContext(event);
        try {
          await js.publish(subject, toWireBytes(traced), { msgID: event.id });
        } catch (error) {
          if (FULL_STREAM.test(describeError(error))) {
            throw new BacklogFullError(`stream refused ${subject}: ${describeError(error)}`, { cause: error });
          }
          throw new DependencyUnavailableError(`could not publish to ${subject}: ${describeError(error)}`, {
            cause: error,
          });
        }
      });
    },
  };
}
