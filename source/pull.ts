// Raw JetStream pull requests and acknowledgements over core NATS.
//
// Why raw: nats-server here is 2.9 (one filter subject per consumer) and @nats-io/jetstream v3
// neither has a no_wait fetch nor builds a JsMsg from a raw message. The wire protocol is small:
// - pull: publish `{"batch":1,"no_wait":true}` or `{"batch":1,"expires":<ns>}` to
//   `$JS.API.CONSUMER.MSG.NEXT.<stream>.<durable>` with a reply inbox. The answer is either the
//   message (its reply subject is the ack subject) or a status: 404 No Messages, 408 Request
//   Timeout (expires elapsed), 409 (limits, consumer deleted, ...).
// - ack: publish to the ack subject: `+ACK`, `-NAK {"delay": <ns>}`, `+WPI` (in progress) or
//   `+TERM`. With a reply subject the server confirms +ACK, -NAK and +TERM (an empty message).
// A pulled message's subject is the original one (e.g. tasks.ingest), not the inbox, so the
// muxed `nc.request` cannot route it: each pull gets its own single-message subscription.
import { createInbox, nanos, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { ConsumerSpec } from '../shared/contract';
import { DependencyUnavailableError, describeError } from '../shared/errors';

export type AckInfo = {
  stream: string;
  consumer: string;
  /** 1-based: how many times JetStream has delivered this message. */
  deliveryCount: number;
  streamSequence: number;
  consumerSequence: number;
  pending: number;
};

/**
 * Parses a JetStream ack subject, both forms:
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>` (9 tokens) and
 * `$JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>[.<token>]`.
 */
export function parseAckSubject(subject: string): AckInfo {
  const tokens = subject.split('.');
  if (tokens.length === 9) tokens.splice(2, 0, '_', '');
  if (tokens.length < 11 || tokens[0] !== '$JS' || tokens[1] !== 'ACK') {
    throw new Error(`not a JetStream ack subject: "${subject}"`);
  }
  const count = (index: number, what: string, min: number): number => {
    const token = tokens[index] ?? '';
    const value = /^\d+$/.test(token) ? Number(token) : NaN;
    if (!Number.isSafeInteger(value) || value < min) {
      throw new Error(`JetStream ack subject "${subject}" has an invalid ${what} "${token}"`);
    }
    return value;
  };
  return {
    stream: tokens[4] ?? '',
    consumer: tokens[5] ?? '',
    deliveryCount: count(6, 'delivery count', 1),
    streamSequence: count(7, 'stream sequence', 1),
    consumerSequence: count(8, 'consumer sequence', 1),
    pending: count(10, 'pending count', 0),
  };
}

export type PullMode = { noWait: true } | { expiresMs: number };

/** The body of a `CONSUMER.MSG.NEXT` request for one message. */
export function toPullRequest(mode: PullMode): string {
  if ('noWait' in mode) return JSON.stringify({ batch: 1, no_wait: true });
  return JSON.stringify({ batch: 1, expires: nanos(mode.expiresMs) });
}

export type PullReply =
  | { kind: 'message'; data: Uint8Array; ackSubject: string; info: AckInfo }
  | { kind: 'empty' }
  | { kind: 'refused'; code: number; description: string };

type ReplyLike = Pick<Msg, 'data' | 'reply'> & { headers?: { code: number; description: string } | undefined };

/** What the server answered to a pull: a message, "nothing there" (404/408), or a refusal (409 ...). */
export function toPullReply(msg: ReplyLike): PullReply {
  if (msg.reply && msg.reply.startsWith('$JS.ACK.')) {
    return { kind: 'message', data: msg.data, ackSubject: msg.reply, info: parseAckSubject(msg.reply) };
  }
  const code = msg.headers?.code ?? 0;
  if (code === 404 || code === 408) return { kind: 'empty' };
  return { kind: 'refused', code, description: msg.headers?.description ?? 'unexpected reply to a pull request' };
}

/** One message pulled from one consumer, with what acking it and prioritising it needs. */
export type PulledMessage = {
  readonly consumer: ConsumerSpec;
  /** Index of the consumer in priority order (0 = highest). */
  readonly priority: number;
  readonly data: Uint8Array;
  readonly ackSubject: string;
  readonly deliveryCount: number;
  readonly streamSequence: number;
};

export type JetStreamPort = {
  /** One message, or null when the consumer has none (now, or before `expiresMs`). */
  pull(consumer: ConsumerSpec, priority: number, mode: PullMode): Promise<PulledMessage | null>;
  ack(message: PulledMessage): Promise<void>;
  /** Redeliver after `delayMs` (0: at once). */
  nak(message: PulledMessage, delayMs: number): Promise<void>;
  /** Never redeliver. */
  term(message: PulledMessage): Promise<void>;
  /** Still working on it: restarts the ack deadline. Fire and forget. */
  working(message: PulledMessage): void;
};

export type JetStreamPortOptions = {
  /** Client-side timeout of a no_wait pull and of an ack confirmation. */
  requestTimeoutMs: number;
  /** Extra time allowed beyond a long poll's `expires` before the client gives up on it. */
  pollMarginMs: number;
  /** Reply subjects of pulls start with this (the connection's inbox prefix: with per-user NATS
   * permissions a component may only receive on its own, shared/nats.ts toInboxPrefix). */
  inboxPrefix?: string;
};

/** Publishes `payload` to `subject` and resolves with the first reply on a private inbox. */
function requestOne(nc: NatsConnection, subject: string, payload: string, timeoutMs: number, inboxPrefix?: string): Promise<Msg> {
  return new Promise<Msg>((resolve, reject) => {
    const inbox = createInbox(inboxPrefix);
    let timer: NodeJS.Timeout | undefined;
    let sub: Subscription | undefined;
    try {
      sub = nc.subscribe(inbox, {
        max: 1,
        callback: (error, msg) => {
          clearTimeout(timer);
          if (error) reject(new DependencyUnavailableError(`request to ${subject} failed: ${describeError(error)}`));
          else resolve(msg);
        },
      });
      timer = setTimeout(() => {
        sub?.unsubscribe();
        reject(new DependencyUnavailableError(`no reply from ${subject} within ${timeoutMs} ms`));
      }, timeoutMs);
      nc.publish(subject, payload, { reply: inbox });
    } catch (error) {
      clearTimeout(timer);
      try {
        sub?.unsubscribe();
      } catch {
        // the connection is closing: the subscription goes with it
      }
      reject(new DependencyUnavailableError(`request to ${subject} failed: ${describeError(error)}`, { cause: error }));
    }
  });
}

export function createJetStreamPort(nc: NatsConnection, options: JetStreamPortOptions): JetStreamPort {
  const confirm = async (message: PulledMessage, payload: string, what: string) => {
    try {
      await nc.request(message.ackSubject, payload, { timeout: options.requestTimeoutMs });
    } catch (error) {
      throw new DependencyUnavailableError(
        `${what} of ${message.consumer.stream} #${message.streamSequence} not confirmed: ${describeError(error)}`,
        { cause: error },
      );
    }
  };

  return {
    async pull(consumer, priority, mode) {
      const subject = `$JS.API.CONSUMER.MSG.NEXT.${consumer.stream}.${consumer.durable}`;
      const timeoutMs = 'noWait' in mode ? options.requestTimeoutMs : mode.expiresMs + options.pollMarginMs;
      const reply = toPullReply(await requestOne(nc, subject, toPullRequest(mode), timeoutMs, options.inboxPrefix));
      if (reply.kind === 'empty') return null;
      if (reply.kind === 'refused') {
        throw new DependencyUnavailableError(
          `pull from ${consumer.stream}/${consumer.durable} refused: ${reply.code} ${reply.description}`,
        );
      }
      return {
        consumer,
        priority,
        data: reply.data,
        ackSubject: reply.ackSubject,
        deliveryCount: reply.info.deliveryCount,
        streamSequence: reply.info.streamSequence,
      };
    },
    ack: (message) => confirm(message, '+ACK', 'ack'),
    nak: (message, delayMs) =>
      confirm(message, delayMs > 0 ? `-NAK ${JSON.stringify({ delay: nanos(delayMs) })}` : '-NAK', 'nak'),
    // A plain +TERM, understood by every server version; the reason travels in the dead letter.
    term: (message) => confirm(message, '+TERM', 'term'),
    working(message) {
      try {
        nc.publish(message.ackSubject, '+WPI');
      } catch {
        // Connection closing: the ack deadline lapses and JetStream redelivers, as it should.
      }
    },
  };
}
