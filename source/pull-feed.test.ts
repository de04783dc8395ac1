import { describe, expect, it } from 'vitest';
import { CONSUMERS } from '../shared/contract';
import { createPullFeed, toStandingPull, type FeedConnection, type FeedMsg, type PulledMessage } from './pull-feed';

const INBOX = '_INBOX.test.feed';

/** A fake connection: what the feed published, and a way to deliver to its subscription. */
function fakeConnection() {
  const published: { subject: string; payload: string; reply: string }[] = [];
  let deliver: ((msg: FeedMsg) => void) | undefined;
  let unsubscribed = false;
  const nc: FeedConnection = {
    subscribe(subject, options) {
      expect(subject).toBe(INBOX);
      deliver = (msg) => options.callback(null, msg);
      return { unsubscribe: () => void (unsubscribed = true) };
    },
    publish(subject, payload, options) {
      published.push({ subject, payload, reply: options.reply });
    },
  };
  const headers = (code: number, description: string, pending?: number) => ({
    code,
    description,
    get: (name: string) => (name === 'Nats-Pending-Messages' && pending !== undefined ? String(pending) : ''),
  });
  return {
    nc,
    published,
    unsubscribed: () => unsubscribed,
    message: (sseq: number, pending: number, count = 1) =>
      deliver!({ subject: 'tasks.ingest', reply: `$JS.ACK.TASKS.ingest.${count}.${sseq}.${sseq}.1700000000000000000.${pending}`, data: new Uint8Array([1]) }),
    bare: () => deliver!({ subject: 'tasks.ingest', data: new Uint8Array([1]) }),
    status: (code: number, description: string, pending?: number) => deliver!({ subject: INBOX, data: new Uint8Array(), headers: headers(code, description, pending) }),
  };
}

function feed(now = { ms: 0 }) {
  const conn = fakeConnection();
  const messages: Array<[PulledMessage, number]> = [];
  const problems: string[] = [];
  let changes = 0;
  const pullFeed = createPullFeed(conn.nc, CONSUMERS.ingest[0], 0, { inbox: INBOX, expiresMs: 15_000, heartbeatMs: 5_000, now: () => now.ms }, {
    message: (message, pendingAfter) => void messages.push([message, pendingAfter]),
    creditChanged: () => void (changes += 1),
    problem: (description) => void problems.push(description),
  });
  return { conn, pullFeed, messages, problems, changes: () => changes, now };
}

describe('standing pull feed', () => {
  it('asks for a batch with expires and idle heartbeat, on its one inbox', () => {
    const { conn, pullFeed } = feed();
    pullFeed.pull(32);
    expect(conn.published).toEqual([
      { subject: '$JS.API.CONSUMER.MSG.NEXT.TASKS.ingest', payload: toStandingPull(32, { expiresMs: 15_000, heartbeatMs: 5_000 }), reply: INBOX },
    ]);
    expect(JSON.parse(conn.published[0]!.payload)).toEqual({ batch: 32, expires: 15_000_000_000, idle_heartbeat: 5_000_000_000 });
    expect(pullFeed.outstanding()).toBe(32);
  });

  it('hands each message on with its delivery count, sequence and what its consumer still has', () => {
    const { conn, pullFeed, messages } = feed();
    pullFeed.pull(2);
    conn.message(41, 7, 3);
    expect(messages).toHaveLength(1);
    const [message, pendingAfter] = messages[0]!;
    expect(message).toMatchObject({ consumer: CONSUMERS.ingest[0], priority: 0, deliveryCount: 3, streamSequence: 41 });
    expect(message.ackSubject).toMatch(/^\$JS\.ACK\.TASKS\.ingest\./);
    expect(pendingAfter).toBe(7);
    expect(pullFeed.outstanding()).toBe(1);
  });

  it('gives back the credit an expired request did not use, and says credit changed', () => {
    const { conn, pullFeed, changes, problems } = feed();
    pullFeed.pull(10);
    conn.message(1, 0);
    conn.status(408, 'Request Timeout', 9);
    expect(pullFeed.outstanding()).toBe(0);
    expect(changes()).toBe(1);
    expect(problems).toEqual([]);
  });

  it('takes a heartbeat as a sign of life, not a change', () => {
    const { conn, pullFeed, changes, now } = feed();
    pullFeed.pull(4);
    now.ms = 9_000;
    conn.status(100, 'Idle Heartbeat');
    now.ms = 18_000;
    expect(pullFeed.checkAlive()).toBe(false);
    expect(changes()).toBe(0);
    expect(pullFeed.outstanding()).toBe(4);
  });

  it('forgets outstanding credit after two silent heartbeats: the request died with its server', () => {
    const { pullFeed, now } = feed();
    pullFeed.pull(4);
    now.ms = 10_500;
    expect(pullFeed.checkAlive()).toBe(false);
    now.ms = 11_500;
    expect(pullFeed.checkAlive()).toBe(true);
    expect(pullFeed.outstanding()).toBe(0);
  });

  it('reports a refusal, and a refusal without a count ends every request', () => {
    const { conn, pullFeed, problems } = feed();
    pullFeed.pull(8);
    conn.status(409, 'Consumer Deleted');
    expect(problems).toEqual(['pull from TASKS/ingest: 409 Consumer Deleted']);
    expect(pullFeed.outstanding()).toBe(0);
  });

  it('drops a message that carries no ack subject, saying so', () => {
    const { conn, pullFeed, messages, problems } = feed();
    pullFeed.pull(1);
    conn.bare();
    expect(messages).toEqual([]);
    expect(problems).toHaveLength(1);
    expect(pullFeed.outstanding()).toBe(1);
    pullFeed.close();
    expect(conn.unsubscribed()).toBe(true);
  });
});
