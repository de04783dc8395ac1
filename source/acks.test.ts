import { describe, expect, it } from 'vitest';
import { ALL_CONSUMERS } from '../shared/contract';
import { createAcks } from './acks';
import type { PulledMessage } from './pull-feed';

const message: PulledMessage = {
  consumer: ALL_CONSUMERS[0]!,
  priority: 0,
  data: new Uint8Array(),
  ackSubject: '$JS.ACK.TASKS.ingest.1.7.7.1700000000000000000.0',
  deliveryCount: 1,
  streamSequence: 7,
};

function recorder() {
  const sent: [string, string][] = [];
  const publish = (subject: string, payload: string | Uint8Array) =>
    sent.push([subject, typeof payload === 'string' ? payload : new TextDecoder().decode(payload)]);
  return { sent, acks: createAcks(publish) };
}

describe('createAcks', () => {
  it('settles a message with a plain publish of the JetStream ack payloads to its ack subject', () => {
    const { sent, acks } = recorder();
    acks.ack(message);
    acks.working(message);
    acks.nak(message, 0);
    acks.nak(message, 1_500);
    acks.term(message);
    expect(sent).toEqual([
      [message.ackSubject, '+ACK'],
      [message.ackSubject, '+WPI'],
      [message.ackSubject, '-NAK'],
      [message.ackSubject, '-NAK {"delay":1500000000}'],
      [message.ackSubject, '+TERM'],
    ]);
  });

  it('leaves a publish that throws (the connection closing) to the ack deadline', () => {
    const acks = createAcks(() => {
      throw new Error('connection closed');
    });
    expect(() => acks.ack(message)).not.toThrow();
  });
});
