import { describe, expect, it } from 'vitest';
import { parseAckSubject, toPullReply, toPullRequest } from './pull';

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

describe('toPullRequest', () => {
  it('asks for one message, either at once or waiting up to expires (nanoseconds)', () => {
    expect(JSON.parse(toPullRequest({ noWait: true }))).toEqual({ batch: 1, no_wait: true });
    expect(JSON.parse(toPullRequest({ expiresMs: 1500 }))).toEqual({ batch: 1, expires: 1_500_000_000 });
  });
});

describe('toPullReply', () => {
  const data = new Uint8Array([1, 2, 3]);

  it('recognises a message by its ack reply subject, even when it has headers', () => {
    const reply = toPullReply({
      data,
      reply: '$JS.ACK.TASKS.ingest.2.7.7.1.0',
      headers: { code: 0, description: '' },
    });
    expect(reply).toMatchObject({ kind: 'message', data, ackSubject: '$JS.ACK.TASKS.ingest.2.7.7.1.0' });
    expect(reply.kind === 'message' && reply.info.deliveryCount).toBe(2);
  });

  it('treats 404 No Messages and 408 Request Timeout as empty', () => {
    expect(toPullReply({ data: new Uint8Array(), reply: '', headers: { code: 404, description: 'No Messages' } })).toEqual({ kind: 'empty' });
    expect(toPullReply({ data: new Uint8Array(), reply: '', headers: { code: 408, description: 'Request Timeout' } })).toEqual({ kind: 'empty' });
  });

  it('reports other statuses as refusals', () => {
    expect(toPullReply({ data: new Uint8Array(), reply: '', headers: { code: 409, description: 'Exceeded MaxWaiting' } })).toEqual({
      kind: 'refused',
      code: 409,
      description: 'Exceeded MaxWaiting',
    });
  });
});
