import { describe, expect, it } from 'vitest';
import { CONSUMERS } from '../shared/contract';
import { createPullFeed, toStandingPull, type FeedConnection, type FeedMsg, type PulledMessage } from './pull-feed';

const INBOX = '_INBOX.test.feed';

/** A fake connection: what the feed published, and a way to deliver to each of its subscriptions
 * (the feed opens a new one, on a new inbox, each time it cancels its requests). */
function fakeConnection() {
  const published: { subject: string; payload: string; reply: string }[] = [];
  const inboxes: { subject: string; deliver: (msg: FeedMsg) => void; state: 'open' | 'draining' | 'closed' }[] = [];
  const nc: FeedConnection = {
    subscribe(subject, options) {
      const inbox = { subject, deliver: (msg: FeedMsg) => options.callback(null, msg), state: 'open' as 'open' | 'draining' | 'closed' };
      inboxes.push(inbox);
      return {
        unsubscribe: () => void (inbox.state = 'closed'),
        drain: () => {
          inbox.state = 'draining';
          return Promise.resolve();
        },
      };
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
  /** The subscription `generation` (0: the first; default: the newest). */
  const at = (generation?: number) => inboxes[generation ?? inboxes.length - 1]!;
  return {
    nc,
    published,
    inboxes,
    unsubscribed: () => at(0).state === 'closed',
    message: (sseq: number, pending: number, count = 1, generation?: number) =>
      at(generation).deliver({ subject: 'tasks.ingest', reply: `$JS.ACK.TASKS.ingest.${count}.${sseq}.${sseq}.1700000000000000000.${pending}`, data: new Uint8Array([1]) }),
    bare: () => at().deliver({ subject: 'tasks.ingest', data: new Uint8Array([1]) }),
    status: (code: number, description: string, pending?: number, generation?: number) =>
      at(generation).deliver({ subject: at(generation).subject, data: new Uint8Array(), headers: headers(code, description, pending) }),
  };
}

function feed(now = { ms: 0 }) {
  const conn = fakeConnection();
  const messages: Array<[PulledMessage, number]> = [];
  const problems: string[] = [];
  let changes = 0;
  let inboxCount = 0;
  const pullFeed = createPullFeed(conn.nc, CONSUMERS.ingest[0], 0, { inbox: () => (inboxCount++ === 0 ? INBOX : `${INBOX}.${inboxCount}`), expiresMs: 15_000, heartbeatMs: 5_000, now: () => now.ms }, {
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

  it('cancels its requests by moving to a new inbox and draining the old one', () => {
    const { conn, pullFeed } = feed();
    pullFeed.pull(8);
    pullFeed.cancel();
    expect(pullFeed.outstanding()).toBe(0);
    expect(pullFeed.probing()).toBe(false);
    expect(conn.inboxes.map((inbox) => inbox.state)).toEqual(['draining', 'open']);
    pullFeed.pull(2);
    expect(conn.published.at(-1)!.reply).toBe(conn.inboxes[1]!.subject);
    expect(conn.published.at(-1)!.reply).not.toBe(INBOX);
  });

  it('after a cancel, still hands on what the old inbox receives, without counting it against the new credit', () => {
    const { conn, pullFeed, messages, changes } = feed();
    pullFeed.pull(8);
    pullFeed.cancel();
    pullFeed.pull(3);
    conn.message(5, 0, 1, 0);
    expect(messages.map(([message]) => message.streamSequence)).toEqual([5]);
    expect(pullFeed.outstanding()).toBe(3);
    // The old request's expiry speaks of credit that no longer counts.
    conn.status(408, 'Request Timeout', 7, 0);
    expect(pullFeed.outstanding()).toBe(3);
    expect(changes()).toBe(0);
    conn.message(6, 0, 1);
    expect(pullFeed.outstanding()).toBe(2);
  });

  it('cancels even with nothing counted outstanding: a request presumed lost may still wait on the server', () => {
    const { conn, pullFeed, messages } = feed();
    pullFeed.pull(4);
    pullFeed.reset();
    pullFeed.cancel();
    expect(conn.inboxes.map((inbox) => inbox.state)).toEqual(['draining', 'open']);
    // What the surviving request still sent is handed on, and counts against nothing.
    conn.message(9, 0, 1, 0);
    expect(messages).toHaveLength(1);
    expect(pullFeed.outstanding()).toBe(0);
  });
});
