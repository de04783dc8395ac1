// A standing batched pull on one durable consumer (docs/design.md §6), over core NATS: what the
// source used to do with one pull request (and one subscription) per message, it now does with
// one subscription per consumer and one request per batch.
//
// The wire protocol (JetStream's CONSUMER.MSG.NEXT):
// - a pull is a publish of `{"batch":n,"expires":<ns>,"idle_heartbeat":<ns>}` to
//   `$JS.API.CONSUMER.MSG.NEXT.<stream>.<durable>` with our inbox as reply subject; the server
//   keeps it waiting until it has delivered n messages or `expires` passes;
// - messages arrive on the inbox subscription with their own subject and the ack subject as
//   reply; status messages arrive with the inbox itself as subject: 100 idle heartbeat (the
//   request is still waiting), 408 request expired and 409 (limits, consumer deleted, leader
//   change), the last two saying in `Nats-Pending-Messages` how much of the request went unused.
//
// The feed keeps count of the messages it asked for and has not received (`outstanding`), from
// which the dispatcher decides when to ask for more (half its credit used: dispatcher.ts).
// For strict priority the dispatcher may need to know at once whether a consumer has work: a
// probe (`no_wait`) answers with what is there and a 404 when it runs out; the feed then turns
// what the probe did not use into a standing request, so the consumer is known empty while that
// request waits (a message would have been delivered on it). A
// request lost with its server (a restart, a network partition) sends no expiry: when no message,
// heartbeat or status came for two heartbeats while credit was outstanding, or the connection
// reconnected, the feed forgets the outstanding credit (`reset`) so the dispatcher pulls again.
// A request that survived after all then delivers more than asked for; the dispatcher holds the
// surplus (bounded by the credit given twice).
//
// Cancelling (a paused queue, source/pause-gate.ts): JetStream has no call that withdraws a pull
// request, but the server drops a waiting request whose reply subject has lost its interest
// instead of delivering on it (nats-server checks before each delivery; 2.9 does). So the feed
// moves to a fresh inbox and drains the old subscription: whatever the server sent before it saw
// the unsubscribe still arrives and is handed on (the dispatcher holds it), statuses of the old
// inbox no longer count, and nothing more is sent. A message the server routed at the very
// moment the unsubscribe landed would go nowhere and come again after AckWait: at least once,
// as everything else.
import type { ConsumerSpec } from '../shared/contract';
import { parseAckSubject, type AckInfo } from './pull';

/** One message pulled from one consumer, with what acking and prioritising it needs. */
export type PulledMessage = {
  readonly consumer: ConsumerSpec;
  /** Index of the consumer in priority order (0 = highest). */
  readonly priority: number;
  readonly data: Uint8Array;
  readonly ackSubject: string;
  readonly deliveryCount: number;
  readonly streamSequence: number;
};

/** The part of a NATS message the feed reads (nats.js Msg). */
export type FeedMsg = {
  readonly subject: string;
  readonly reply?: string | undefined;
  readonly data: Uint8Array;
  readonly headers?: { readonly code: number; readonly description: string; get(name: string): string } | undefined;
};

/** The part of a NATS subscription the feed uses. */
export type FeedSubscription = { unsubscribe(): void; drain(): Promise<void> };

/** The part of a NATS connection the feed uses (a fake in unit tests). */
export type FeedConnection = {
  subscribe(subject: string, options: { callback: (error: Error | null, msg: FeedMsg) => void }): FeedSubscription;
  publish(subject: string, payload: string, options: { reply: string }): void;
};

export type FeedEvents = {
  /** A message arrived; its consumer had `pendingAfter` more waiting in JetStream. */
  message(message: PulledMessage, pendingAfter: number): void;
  /** Outstanding credit changed other than by a message (expired, refused, reset): pull again? */
  creditChanged(): void;
  /** A refusal worth logging (409 other than an expiry, a consumer gone, bad data). */
  problem(description: string): void;
};

export type PullFeedOptions = {
  /** A new inbox subject: one to start with, another each time the feed cancels its requests. */
  inbox: () => string;
  /** How long a request waits on the server. */
  expiresMs: number;
  /** Heartbeat interval the server keeps a waiting request alive with (at most expires / 2). */
  heartbeatMs: number;
  now: () => number;
};

export type PullFeed = {
  /** Messages asked for and not received yet. */
  outstanding(): number;
  /** A probe is out: whether the consumer has work is not known yet. */
  probing(): boolean;
  /** Asks for `count` more messages: a standing request, or a probe that answers at once. */
  pull(count: number, mode?: 'standing' | 'probe'): void;
  /** Forgets the outstanding credit (its requests are presumed lost). */
  reset(): void;
  /** Withdraws every outstanding request (see the top of this file): outstanding() is 0 after. */
  cancel(): void;
  /** Checks the heartbeat; call it every heartbeat interval. True when it reset the feed. */
  checkAlive(): boolean;
  close(): void;
};

/** The body of a standing pull request for `count` messages. */
export function toStandingPull(count: number, options: Pick<PullFeedOptions, 'expiresMs' | 'heartbeatMs'>): string {
  const ns = (ms: number) => ms * 1_000_000;
  return JSON.stringify({ batch: count, expires: ns(options.expiresMs), idle_heartbeat: ns(options.heartbeatMs) });
}

/** The body of a probe: what is there now, up to `count`, then 404. */
export function toProbe(count: number): string {
  return JSON.stringify({ batch: count, no_wait: true });
}

/** How many of a request's messages a 408/409 status says were never sent. */
export function toUnusedCredit(msg: FeedMsg): number {
  const value = Number(msg.headers?.get('Nats-Pending-Messages') ?? '');
  return Number.isSafeInteger(value) && value > 0 ? value : 0;
}

export function createPullFeed(
  nc: FeedConnection,
  consumer: ConsumerSpec,
  priority: number,
  options: PullFeedOptions,
  events: FeedEvents,
): PullFeed {
  const subject = `$JS.API.CONSUMER.MSG.NEXT.${consumer.stream}.${consumer.durable}`;
  let outstanding = 0;
  let probing = false;
  let lastHeardMs = options.now();
  /** Forgets every request: expired, lost with a server, or withdrawn. */
  const forget = () => {
    outstanding = 0;
    probing = false;
  };

  const standing = (count: number) => {
    if (count <= 0) return;
    if (outstanding === 0) lastHeardMs = options.now();
    outstanding += count;
    nc.publish(subject, toStandingPull(count, options), { reply: inbox.subject });
  };

  const onStatus = (msg: FeedMsg) => {
    const code = msg.headers?.code ?? 0;
    if (code === 100) return; // idle heartbeat: the request is alive
    if (probing && (code === 404 || code === 408)) {
      // The probe found no more work: what it did not use waits as a standing request.
      probing = false;
      const unused = outstanding;
      outstanding = 0;
      standing(unused);
      events.creditChanged();
      return;
    }
    const unused = toUnusedCredit(msg);
    if (unused > 0) outstanding = Math.max(0, outstanding - unused);
    if (code !== 404 && code !== 408) {
      events.problem(`pull from ${consumer.stream}/${consumer.durable}: ${code} ${msg.headers?.description ?? ''}`.trim());
      // A refusal without a count (consumer deleted, leadership change) ends every request.
      if (unused === 0) outstanding = 0;
    }
    events.creditChanged();
  };

  /** `counted`: it came on the current inbox, so it uses up outstanding credit. */
  const onMessage = (msg: FeedMsg, counted: boolean) => {
    const pulled = toPulledMessage(msg, consumer, priority, events);
    if (!pulled) return;
    if (counted) {
      outstanding = Math.max(0, outstanding - 1);
      if (outstanding === 0) probing = false;
    }
    events.message(pulled.message, pulled.pending);
  };

  const open = (): { subject: string; subscription: FeedSubscription } => {
    const own = options.inbox();
    const subscription = nc.subscribe(own, {
      callback: (error, msg) => {
        if (error) {
          events.problem(`inbox of ${consumer.durable}: ${error.message}`);
          return;
        }
        const current = inbox.subject === own;
        if (current) lastHeardMs = options.now();
        // Statuses of a withdrawn inbox speak of requests that no longer count.
        if (msg.subject === own) {
          if (current) onStatus(msg);
        } else {
          onMessage(msg, current);
        }
      },
    });
    return { subject: own, subscription };
  };
  let inbox = open();

  return {
    outstanding: () => outstanding,
    probing: () => probing,
    pull(count, mode = 'standing') {
      if (count <= 0) return;
      if (mode === 'standing' || probing || outstanding > 0) {
        standing(count);
        return;
      }
      // A probe only when nothing else is outstanding: its messages and its 404 are then its own.
      probing = true;
      lastHeardMs = options.now();
      outstanding = count;
      nc.publish(subject, toProbe(count), { reply: inbox.subject });
    },
    reset: forget,
    cancel() {
      // Even with nothing counted: a request presumed lost (reset) may still wait on the server.
      const old = inbox.subscription;
      forget();
      inbox = open();
      // Drained, not cut: what the server sent before it saw the unsubscribe still comes in.
      old.drain().catch(() => old.unsubscribe());
    },
    checkAlive() {
      // Two heartbeats of silence while credit is outstanding: the requests died with a server.
      if (outstanding === 0 || options.now() - lastHeardMs <= 2 * options.heartbeatMs + 1_000) return false;
      forget();
      lastHeardMs = options.now();
      return true;
    },
    close: () => inbox.subscription.unsubscribe(),
  };
}

/** The pulled message a delivery on the inbox carries, or undefined (reported) when it has no
 * usable ack subject. */
function toPulledMessage(
  msg: FeedMsg,
  consumer: ConsumerSpec,
  priority: number,
  events: Pick<FeedEvents, 'problem'>,
): { message: PulledMessage; pending: number } | undefined {
  if (!msg.reply || !msg.reply.startsWith('$JS.ACK.')) {
    events.problem(`pull from ${consumer.stream}/${consumer.durable}: a message without an ack subject was dropped`);
    return undefined;
  }
  let info: AckInfo;
  try {
    info = parseAckSubject(msg.reply);
  } catch (error) {
    events.problem((error as Error).message);
    return undefined;
  }
  const message: PulledMessage = {
    consumer,
    priority,
    data: msg.data,
    ackSubject: msg.reply,
    deliveryCount: info.deliveryCount,
    streamSequence: info.streamSequence,
  };
  return { message, pending: info.pending };
}
