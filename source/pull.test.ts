import { describe, expect, it } from 'vitest';
import { parseAckSubject } from './pull';

describe('parseAckSubject', () => {
  it('reads the delivery count and sequences of the classic 9-token form', () => {
    expect(parseAckSubject('$JS.ACK.TASKS.worker-high.3.42.17.1795764783758523002.5')).toEqual({
      stream: 'TASKS',
      consumer: 'worker-high',
      deliveryCount: 3,
      streamSequence: 42,
      consumerSequence: 17,
      pending: 5,
    });
  });

  it('reads the domain/account form with a trailing token', () => {
    const info = parseAckSubject('$JS.ACK.hub.ACCHASH.EVENTS.notifier.1.9.8.1795764783758523002.0.abc123');
    expect(info).toMatchObject({ stream: 'EVENTS', consumer: 'notifier', deliveryCount: 1, streamSequence: 9 });
  });

  it('refuses subjects that are not ack subjects or carry no valid count', () => {
    expect(() => parseAckSubject('_INBOX.abc.def')).toThrow(/not a JetStream ack subject/);
    expect(() => parseAckSubject('$JS.ACK.TASKS.ingest.0.1.1.1.0')).toThrow(/invalid delivery count "0"/);
    expect(() => parseAckSubject('$JS.ACK.TASKS.ingest.x.1.1.1.0')).toThrow(/invalid delivery count "x"/);
  });
});
