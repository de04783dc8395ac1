// NATS connection, the idempotent stream/consumer setup of docs/design.md §4 and the event
// publisher.
import {
  AuthorizationError,
  nanos,
  PermissionViolationError,
  type ConnectionOptions,
  type NatsConnection,
} from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  jetstreamManager,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import type { NatsAuth, NatsSettings, TlsFile } from './config';
import { ALL_CONSUMERS, STREAM_SUBJECTS, toMaxDeliver, type FlowSettings } from './contract';
import { BacklogFullError, ConfigError, DependencyUnavailableError, describeError } from './errors';
import { toMsgId } from './emit';
import { toWireBytes } from './events';
import type { Logger } from './logger';
import { connectCoalesced } from './nats-transport';
import { createPubAckClient } from './pub-acks';
import { ensurePauseStream } from './queue-pauses';
import { readTlsFile, type ReadFile } from './tls-files';
import { injectTraceContext, withSpan } from './tracing';
import { SpanKind } from '@opentelemetry/api';

export type { NatsConnection } from '@nats-io/transport-node';

export type NatsOptions = {
  /** Comma-separated server URLs. */
  url: string;
  /** From readNatsSettings; none when absent (a local development server). */
  auth?: NatsAuth;
  tls?: NatsSettings['tls'];
  name: string;
  logger: Logger;
};

/** The credentials and TLS part of nats.js connect options (pure but for reading TLS files). */
export function toNatsAuthOptions(
  options: Pick<NatsOptions, 'auth' | 'tls'>,
  read?: ReadFile,
): Pick<ConnectionOptions, 'user' | 'pass' | 'token' | 'tls'> {
  const auth = options.auth ?? { kind: 'none' };
  const tls = options.tls;
  const text = (file: TlsFile | undefined) => (file ? readTlsFile(file, read).toString('utf8') : undefined);
  return {
    ...(auth.kind === 'user' ? { user: auth.user, pass: auth.password.reveal() } : {}),
    ...(auth.kind === 'token' ? { token: auth.token.reveal() } : {}),
    ...(tls
      ? {
          tls: {
            ...(tls.ca ? { ca: text(tls.ca) } : {}),
            ...(tls.cert ? { cert: text(tls.cert) } : {}),
            ...(tls.key ? { key: text(tls.key) } : {}),
          },
        }
      : {}),
  };
}

/**
 * Where replies to this connection arrive. Per user (`_INBOX.<user>`), so that the NATS config can
 * let each component receive its own replies only (a subscription on all of `_INBOX.>` would
 * see every other component's PubAcks and pulled messages).
 */
export function toInboxPrefix(auth: NatsAuth | undefined): string {
  return auth?.kind === 'user' ? `_INBOX.${auth.user}` : '_INBOX';
}

function describeAuth(auth: NatsAuth | undefined): string {
  if (auth?.kind === 'user') return `user "${auth.user}" (NATS_USER/NATS_PASSWORD)`;
  if (auth?.kind === 'token') return 'the token (NATS_TOKEN)';
  return 'no credentials (set NATS_USER and NATS_PASSWORD, or NATS_TOKEN)';
}

/** Connects and keeps reconnecting forever: outages are survived, not fatal. Refused
 * credentials are fatal at once (nats.js stops retrying an authorization error). */
export async function connectNats(options: NatsOptions): Promise<NatsConnection> {
  let nc: NatsConnection;
  try {
    nc = await connectCoalesced({
      servers: options.url.split(','),
      name: options.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      waitOnFirstConnect: true,
      // nats.js otherwise builds an Error per request and publish to keep the caller's stack
      // for a later failure: a visible share of every delivery's CPU, for stacks we never read.
      noAsyncTraces: true,
      inboxPrefix: toInboxPrefix(options.auth),
      ...toNatsAuthOptions(options),
    });
  } catch (error) {
    if (error instanceof AuthorizationError || /authori[sz]ation|authentication/i.test(describeError(error))) {
      throw new ConfigError([`NATS at ${options.url} refused ${describeAuth(options.auth)}: ${describeError(error)}`]);
    }
    throw error;
  }
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' || status.type === 'reconnect') {
        options.logger.warn({ nats: status.type }, 'nats connection %s', status.type);
      } else if (status.type === 'error' && status.error instanceof PermissionViolationError) {
        // A missing permission in the server config: loud, since the affected work stalls.
        options.logger.error({ nats: 'permission', err: status.error.message }, 'nats refused an operation: %s', status.error.message);
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
 * Creates or updates both streams, every consumer and the PAUSES stream. Consumers are created
 * here, before anything publishes, because with interest retention a message on a subject that no
 * consumer covers is dropped at once.
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
  // The queues' pause state (shared/queue-pauses.ts): only setup may create streams.
  await ensurePauseStream(jsm, logger);
  for (const spec of ALL_CONSUMERS) {
    // No BackOff list: with one, nats-server uses its first value as the first ack deadline
    // and a plain nak() ignores it. The source applies the retry delays with nak(delay).
    const config = {
      durable_name: spec.durable,
      filter_subject: spec.filterSubject,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(settings.ackWaitMs),
      max_deliver: toMaxDeliver(spec, settings),
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

export type { Publisher } from './ports';

const FULL_STREAM = /maximum (messages|bytes) exceeded|resource limits exceeded|insufficient resources/i;

import type { Publisher } from './ports';

export function createPublisher(nc: NatsConnection, options: { timeoutMs?: number; inboxPrefix?: string } = {}): Publisher {
  const pubAcks = createPubAckClient(nc, {
    timeoutMs: options.timeoutMs ?? 5_000,
    ...(options.inboxPrefix !== undefined ? { inboxPrefix: options.inboxPrefix } : {}),
  });
  return {
    async publish(subject, event) {
      await withSpan(`publish ${subject}`, SpanKind.PRODUCER, { 'messaging.destination.name': subject }, async () => {
        const traced = injectTraceContext(event);
        try {
          await pubAcks.publish(subject, toWireBytes(traced), toMsgId(event));
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
