// JetStream publishes that wait for their PubAck, over one reply subscription per connection.
//
// nats.js's `js.publish` is a request per message: a request object, a timer and an Error built
// for every completed request (its `cancel` makes one even after success), a visible share of
// each stage's CPU. A PubAck is a plain reply, so this keeps one wildcard subscription on our own
// inbox, numbers each publish in its reply subject, and settles it when the reply comes; one
// timer sweeps the expired ones (every publish has the same timeout, so they expire in order).
//
// Replies: `{"stream":…,"seq":…,"duplicate"?:true}` stored; `{"error":{"code","description"}}`
// refused (a full stream, a wrong subject); a 503 status (no responders: no stream takes the
// subject). A reply that never comes (NATS restarted) times out: the caller retries, and the
// Nats-Msg-Id makes a repeat of a publish that was stored after all a duplicate.
import { createInbox, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';

export type PubAck = { stream: string; seq: number; duplicate: boolean };

export class PublishError extends Error {
  readonly code: number | undefined;
  constructor(message: string, code?: number) {
    super(message);
    this.name = 'PublishError';
    this.code = code;
  }
}

export type PubAckClient = {
  /** Publishes `data` on `subject` with `msgId` as Nats-Msg-Id; resolves with the PubAck. */
  publish(subject: string, data: Uint8Array, msgId: string): Promise<PubAck>;
  close(): void;
};

type Waiting = { resolve: (ack: PubAck) => void; reject: (error: Error) => void; deadline: number; subject: string };

type Reply = { stream?: unknown; seq?: unknown; duplicate?: unknown; error?: { code?: unknown; description?: unknown } };

/** The PubAck a reply carries, or the error it says. */
export function toPubAck(text: string): PubAck {
  let reply: Reply;
  try {
    reply = JSON.parse(text) as Reply;
  } catch {
    throw new PublishError(`not a PubAck: ${text.slice(0, 200)}`);
  }
  if (reply.error) {
    const code = typeof reply.error.code === 'number' ? reply.error.code : undefined;
    throw new PublishError(String(reply.error.description ?? 'publish refused'), code);
  }
  if (typeof reply.stream !== 'string' || typeof reply.seq !== 'number') throw new PublishError(`not a PubAck: ${text.slice(0, 200)}`);
  return { stream: reply.stream, seq: reply.seq, duplicate: reply.duplicate === true };
}

export function createPubAckClient(nc: NatsConnection, options: { timeoutMs: number; inboxPrefix?: string; now?: () => number }): PubAckClient {
  const now = options.now ?? Date.now;
  const prefix = `${createInbox(options.inboxPrefix)}.`;
  const waiting = new Map<number, Waiting>();
  let next = 0;

  const settle = (id: number, outcome: { ack: PubAck } | { error: Error }) => {
    const entry = waiting.get(id);
    if (!entry) return; // timed out already
    waiting.delete(id);
    if ('ack' in outcome) entry.resolve(outcome.ack);
    else entry.reject(outcome.error);
  };

  // Subscribed on the first publish: a component that publishes nothing (the notifier) may have no
  // inbox permission at all (shared/nats-permissions.ts).
  let subscription: { unsubscribe(): void } | undefined;
  const subscribe = () => nc.subscribe(`${prefix}*`, {
    callback: (error, msg) => {
      if (error) return;
      const id = Number(msg.subject.slice(prefix.length));
      const code = msg.headers?.code ?? 0;
      if (code === 503) {
        settle(id, { error: new PublishError('no stream takes this subject (no responders)', 503) });
        return;
      }
      try {
        settle(id, { ack: toPubAck(msg.string()) });
      } catch (refusal) {
        settle(id, { error: refusal as Error });
      }
    },
  });

  const sweep = setInterval(() => {
    const at = now();
    for (const [id, entry] of waiting) {
      // Inserted in order with one timeout: the first that has not expired ends the sweep.
      if (entry.deadline > at) break;
      waiting.delete(id);
      entry.reject(new PublishError(`no PubAck for ${entry.subject} within ${options.timeoutMs} ms (timeout)`));
    }
  }, Math.min(250, options.timeoutMs));
  sweep.unref();

  return {
    publish(subject, data, msgId) {
      subscription ??= subscribe();
      return new Promise<PubAck>((resolve, reject) => {
        next += 1;
        const id = next;
        const headers = natsHeaders();
        headers.set('Nats-Msg-Id', msgId);
        waiting.set(id, { resolve, reject, deadline: now() + options.timeoutMs, subject });
        try {
          nc.publish(subject, data, { reply: `${prefix}${id}`, headers });
        } catch (error) {
          waiting.delete(id);
          reject(error as Error);
        }
      });
    },
    close() {
      clearInterval(sweep);
      subscription?.unsubscribe();
      for (const [id] of waiting) settle(id, { error: new PublishError('publisher closed') });
    },
  };
}
