// Settling a pulled message: a plain publish to its ack subject (`+ACK`, `-NAK {"delay":<ns>}`,
// `+TERM`, `+WPI`), with no reply asked for. nats.js coalesces the publishes of one tick into one
// socket write. A lost ack costs a redelivery after AckWait, which every stage absorbs
// (deterministic event ids, idempotent stages: docs/reliability.md); asking the server to confirm
// each one cost a reply message and a round trip per delivery.
import { nanos } from '@nats-io/transport-node';
import type { PulledMessage } from './pull-feed';

export type Acks = {
  ack(message: PulledMessage): void;
  /** Redeliver after `delayMs` (0: at once). */
  nak(message: PulledMessage, delayMs: number): void;
  /** Never redeliver. */
  term(message: PulledMessage): void;
  /** Still working on it: restarts the ack deadline. */
  working(message: PulledMessage): void;
};

/** The payload that naks with a delay (nanoseconds, as the server reads it). */
export function toNakPayload(delayMs: number): string {
  return delayMs > 0 ? `-NAK ${JSON.stringify({ delay: nanos(delayMs) })}` : '-NAK';
}

/** The fixed payloads as bytes once: a string payload is UTF-8 encoded again on every publish. */
const ACK = new TextEncoder().encode('+ACK');
const TERM = new TextEncoder().encode('+TERM');
const WORKING = new TextEncoder().encode('+WPI');

export function createAcks(publish: (subject: string, payload: string | Uint8Array) => void): Acks {
  const send = (message: PulledMessage, payload: string | Uint8Array) => {
    try {
      publish(message.ackSubject, payload);
    } catch {
      // The connection is closing: the ack deadline lapses and JetStream redelivers, as it should.
    }
  };
  return {
    ack: (message) => send(message, ACK),
    nak: (message, delayMs) => send(message, toNakPayload(delayMs)),
    // A plain +TERM, understood by every server version; the reason travels in the dead letter.
    term: (message) => send(message, TERM),
    working: (message) => send(message, WORKING),
  };
}
