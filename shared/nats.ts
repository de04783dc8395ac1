// NATS connection and the event publisher: what every function needs. The stream and consumer
// setup lives in flow-setup.ts, so a function's bundle carries no JetStream management client
// (nats.js's @nats-io/jetstream: 140 KB that a function would load at every cold start unused).
import {
  AuthorizationError,
  PermissionViolationError,
  type ConnectionOptions,
  type NatsConnection,
} from '@nats-io/transport-node';
import type { NatsAuth, NatsSettings, TlsFile } from './config';
import { BacklogFullError, ConfigError, DependencyUnavailableError, describeError } from './errors';
import { toMsgId } from './emit';
import { toWireBytes } from './events';
import type { Logger } from './logger';
import { connectCoalesced } from './nats-transport';
import { createPubAckClient } from './pub-acks';
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
