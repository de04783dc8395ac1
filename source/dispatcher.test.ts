import { describe, expect, it } from 'vitest';
import { createLogger } from '../shared/logger';
import { waitFor } from '../test/helpers/ports';
import { createDispatcher, type Dispatcher, type DispatcherPort } from './dispatcher';

type Gate = { resolve: () => void; promise: Promise<void> };

function gate(): Gate {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { resolve, promise };
}

/**
 * A fake JetStream: a queue of messages per consumer on the "server", and the credit each
 * consumer was given by pulls. Whenever a consumer has credit and messages, the server sends
 * (accept) them, as a standing pull does. Deliveries block until `finish(name)`.
 */
function fakeServer(consumerCount: number) {
  const queues: string[][] = Array.from({ length: consumerCount }, () => []);
  const credit: number[] = Array.from({ length: consumerCount }, () => 0);
  const probing: boolean[] = Array.from({ length: consumerCount }, () => false);
  const pulls: Array<[number, number]> = [];
  const probes: Array<[number, number]> = [];
  const cancels: number[] = [];
  const gates = new Map<string, Gate>();
  const delivered: string[] = [];
  const released: string[] = [];
  const working = new Map<string, number>();
  const abandoned: string[] = [];
  let dispatcher: Dispatcher<string> | undefined;
  let active = 0;
  let maxActive = 0;

  const send = () => {
    for (let index = 0; index < consumerCount; index += 1) {
      while (credit[index]! > 0 && queues[index]!.length > 0) {
        credit[index]! -= 1;
        const message = queues[index]!.shift()!;
        // As the ack subject says: how many more this consumer has waiting.
        dispatcher?.accept(index, message, queues[index]!.length);
      }
    }
  };

  const port: DispatcherPort<string> = {
    consumerCount,
    outstanding: (index) => credit[index]!,
    probing: (index) => probing[index]!,
    pull(index, count, mode) {
      credit[index]! += count;
      if (mode === 'standing') {
        pulls.push([index, count]);
        queueMicrotask(send);
        return;
      }
      // A probe: what is there comes at once; the rest waits as a standing request (pull-feed.ts).
      probes.push([index, count]);
      probing[index] = true;
      queueMicrotask(() => {
        send();
        probing[index] = false;
        dispatcher?.refill();
      });
    },
    // Withdrawn requests: the server sends nothing more on them (pull-feed.ts, cancel).
    cancel(index) {
      cancels.push(index);
      credit[index] = 0;
      probing[index] = false;
    },
    async deliver(message, abandon) {
      active += 1;
      maxActive = Math.max(maxActive, active);
      delivered.push(message);
      const g = gate();
      gates.set(message, g);
      abandon.addEventListener('abort', () => {
        abandoned.push(message);
        g.resolve();
      });
      await g.promise;
      active -= 1;
    },
    working(message) {
      working.set(message, (working.get(message) ?? 0) + 1);
    },
    release(message) {
      released.push(message);
    },
  };

  return {
    port,
    pulls,
    probes,
    cancels,
    delivered,
    released,
    working,
    abandoned,
    credit,
    maxActive: () => maxActive,
    attach(d: Dispatcher<string>) {
      dispatcher = d;
    },
    publish(index: number, ...messages: string[]) {
      queues[index]!.push(...messages);
      send();
    },
    /** The server forgets every waiting request (expiry, restart). */
    expireAll() {
      credit.fill(0);
    },
    finish(message: string) {
      const g = gates.get(message);
      if (!g) throw new Error(`${message} is not being delivered`);
      g.resolve();
    },
  };
}

const logger = createLogger('test', 'silent');

const settle = () => new Promise((resolve) => setImmediate(resolve));

/** A started dispatcher whose first probes were answered (every consumer idle, known empty). */
async function start(consumerCount: number, maxInFlight: number, options: { workingIntervalMs?: number; canPull?: () => boolean } = {}) {
  const server = fakeServer(consumerCount);
  const dispatcher = createDispatcher(server.port, { maxInFlight, workingIntervalMs: options.workingIntervalMs ?? 60_000, logger, ...(options.canPull ? { canPull: options.canPull } : {}) });
  server.attach(dispatcher);
  dispatcher.start();
  await settle();
  return { server, dispatcher };
}

describe('dispatcher', () => {
  it('asks each consumer for the free slots at start: the higher ones by a probe, in priority order, the lowest standing', async () => {
    const { server } = await start(3, 4);
    expect(server.probes).toEqual([[0, 4], [1, 4]]);
    expect(server.pulls).toEqual([[2, 4]]);
    expect(server.credit).toEqual([4, 4, 4]);
  });

  it('gives lower priorities no credit until a probe says the higher one has no work', async () => {
    const server = fakeServer(2);
    const dispatcher = createDispatcher(server.port, { maxInFlight: 2, workingIntervalMs: 60_000, logger });
    server.attach(dispatcher);
    dispatcher.start();
    expect(server.probes).toEqual([[0, 2]]);
    expect(server.pulls).toEqual([]);
    await settle();
    expect(server.pulls).toEqual([[1, 2]]);
  });

  it('fills a freed slot from the highest priority first (strict priority)', async () => {
    const { server, dispatcher } = await start(3, 1);
    server.publish(2, 'low-1', 'low-2');
    await settle();
    expect(server.delivered).toEqual(['low-1']);
    server.publish(0, 'high-1', 'high-2');
    server.publish(1, 'medium-1');
    await settle();
    server.finish('low-1');
    await waitFor('the next delivery', () => server.delivered.length === 2);
    server.finish('high-1');
    await waitFor('the next delivery', () => server.delivered.length === 3);
    server.finish('high-2');
    await waitFor('the next delivery', () => server.delivered.length === 4);
    server.finish('medium-1');
    await waitFor('the next delivery', () => server.delivered.length === 5);
    expect(server.delivered).toEqual(['low-1', 'high-1', 'high-2', 'medium-1', 'low-2']);
    expect(dispatcher.held()).toBe(0);
  });

  it('gives a lower priority no credit for slots a higher one already holds', async () => {
    const { server, dispatcher } = await start(2, 4);
    // Both consumers got 4 credit while idle; 4 high and 4 low arrive: the low ones wait here.
    server.publish(0, 'h1', 'h2', 'h3', 'h4', 'h5', 'h6');
    server.publish(1, 'l1', 'l2', 'l3', 'l4', 'l5', 'l6');
    await settle();
    expect(dispatcher.inFlight()).toBe(4);
    expect(server.delivered).toEqual(['h1', 'h2', 'h3', 'h4']);
    expect(dispatcher.held()).toBe(4);
    server.pulls.length = 0;
    server.finish('h1');
    server.finish('h2');
    await waitFor('two more deliveries', () => server.delivered.length === 6);
    // The freed slots went to the high messages still in JetStream, pulled for them, not to the
    // low ones waiting here; and low got no new credit: what it holds covers every free slot.
    expect(server.delivered.slice(4)).toEqual(['h5', 'h6']);
    expect(server.pulls.filter(([index]) => index === 1)).toEqual([]);
    for (const name of ['h3', 'h4', 'h5', 'h6']) server.finish(name);
    await waitFor('the low ones', () => server.delivered.length === 10);
    expect(server.delivered.slice(6)).toEqual(['l1', 'l2', 'l3', 'l4']);
  });

  it('never has more deliveries in flight than slots, and asks for more only when half the credit is used', async () => {
    const { server, dispatcher } = await start(1, 8);
    server.publish(0, ...Array.from({ length: 40 }, (_, i) => `m${i}`));
    await settle();
    expect(dispatcher.inFlight()).toBe(8);
    expect(dispatcher.held()).toBe(0);
    expect(server.pulls).toEqual([[0, 8]]);
    for (let i = 0; i < 3; i += 1) server.finish(`m${i}`);
    await settle();
    // 3 free: under half of 8, no request yet.
    expect(server.pulls).toEqual([[0, 8]]);
    server.finish('m3');
    await waitFor('a request for the free half', () => server.pulls.length === 2);
    expect(server.pulls[1]).toEqual([0, 4]);
    for (let i = 4; i < 40; i += 1) {
      await waitFor(`m${i} to be delivered`, () => server.delivered.includes(`m${i}`));
      server.finish(`m${i}`);
    }
    expect(server.maxActive()).toBe(8);
  });

  it('pulls again when the server forgot its requests (expired, restarted)', async () => {
    const { server, dispatcher } = await start(1, 4);
    server.expireAll();
    server.pulls.length = 0;
    dispatcher.refill();
    expect(server.pulls).toEqual([[0, 4]]);
    server.publish(0, 'after');
    await settle();
    expect(server.delivered).toEqual(['after']);
  });

  it('does not pull while it cannot, and pulls once it can again', async () => {
    let connected = false;
    const { server, dispatcher } = await start(1, 4, { canPull: () => connected });
    expect(server.pulls).toEqual([]);
    connected = true;
    dispatcher.refill();
    expect(server.pulls).toEqual([[0, 4]]);
  });

  it('sends in-progress acks for messages in flight and held', async () => {
    const { server } = await start(2, 1, { workingIntervalMs: 20 });
    server.publish(0, 'busy');
    server.publish(1, 'waiting');
    await settle();
    await waitFor('in-progress acks for both', () => (server.working.get('busy') ?? 0) >= 2 && (server.working.get('waiting') ?? 0) >= 2);
    server.finish('busy');
  });

  it('on stop: hands back held messages at once, waits for deliveries in flight, and hands back what arrives later', async () => {
    const { server, dispatcher } = await start(2, 1);
    server.publish(0, 'running');
    server.publish(1, 'held');
    await settle();
    const stopping = dispatcher.stop(5_000);
    expect(server.released).toEqual(['held']);
    dispatcher.accept(0, 'late');
    expect(server.released).toEqual(['held', 'late']);
    server.finish('running');
    expect(await stopping).toBe(true);
    expect(server.delivered).toEqual(['running']);
  });

  it('abandons deliveries still running when the grace period is over', async () => {
    const { server, dispatcher } = await start(1, 1);
    server.publish(0, 'stuck');
    await settle();
    expect(await dispatcher.stop(50)).toBe(false);
    expect(server.abandoned).toEqual(['stuck']);
  });
});

describe('dispatcher with a paused consumer', () => {
  it('gives a paused consumer no credit and no slot, withdraws its requests, and keeps strict priority for the others', async () => {
    const { server, dispatcher } = await start(3, 2);
    server.pulls.length = 0;
    server.probes.length = 0;
    dispatcher.pause(1);
    expect(server.cancels).toEqual([1]);
    server.publish(1, 'medium-1', 'medium-2');
    server.publish(0, 'high-1');
    server.publish(2, 'low-1');
    await settle();
    expect(server.delivered).toEqual(['high-1', 'low-1']);
    server.finish('high-1');
    server.finish('low-1');
    server.publish(0, 'high-2');
    await waitFor('high-2', () => server.delivered.includes('high-2'));
    server.finish('high-2');
    await settle();
    expect(server.delivered.filter((name) => name.startsWith('medium'))).toEqual([]);
    expect([...server.pulls, ...server.probes].filter(([index]) => index === 1)).toEqual([]);
    expect(dispatcher.consumer(1)).toEqual({ paused: true, inFlight: 0, held: 0 });
  });

  it('holds what still arrives for a paused consumer with in-progress acks: not delivered, not handed back, no share taken from the others', async () => {
    const { server, dispatcher } = await start(2, 1, { workingIntervalMs: 20 });
    dispatcher.pause(0);
    // A message that was on its way when the request was withdrawn.
    dispatcher.accept(0, 'late-high', 3);
    server.publish(1, 'low-1');
    await settle();
    expect(server.delivered).toEqual(['low-1']);
    await waitFor('in-progress acks for the held message', () => (server.working.get('late-high') ?? 0) >= 2);
    expect(server.released).toEqual([]);
    expect(dispatcher.consumer(0)).toEqual({ paused: true, inFlight: 0, held: 1 });
    expect(dispatcher.consumer(1)).toEqual({ paused: false, inFlight: 1, held: 0 });
    // The held message takes no share of the free slot: low is pulled for its next one.
    server.publish(1, 'low-2');
    server.finish('low-1');
    await waitFor('low-2', () => server.delivered.includes('low-2'));
    server.finish('low-2');
  });

  it('on resume, delivers the held messages first, then pulls the consumer again', async () => {
    const { server, dispatcher } = await start(2, 1);
    dispatcher.pause(0);
    dispatcher.accept(0, 'held-high', 1);
    server.publish(0, 'queued-high');
    server.publish(1, 'low-1');
    await settle();
    expect(server.delivered).toEqual(['low-1']);
    dispatcher.resume(0);
    server.finish('low-1');
    await waitFor('the held message', () => server.delivered.length === 2);
    expect(server.delivered[1]).toBe('held-high');
    server.finish('held-high');
    await waitFor('the one still in JetStream', () => server.delivered.length === 3);
    expect(server.delivered[2]).toBe('queued-high');
    expect(dispatcher.consumer(0)).toEqual({ paused: false, inFlight: 1, held: 0 });
    server.finish('queued-high');
  });

  it('lets a delivery in flight when its consumer is paused finish normally', async () => {
    const { server, dispatcher } = await start(2, 2);
    server.publish(1, 'medium-1');
    await settle();
    expect(dispatcher.consumer(1)).toEqual({ paused: false, inFlight: 1, held: 0 });
    dispatcher.pause(1);
    expect(dispatcher.consumer(1)).toEqual({ paused: true, inFlight: 1, held: 0 });
    server.finish('medium-1');
    await waitFor('the delivery to finish', () => dispatcher.consumer(1).inFlight === 0);
    expect(server.abandoned).toEqual([]);
    expect(server.released).toEqual([]);
  });

  it('on stop, hands back what a paused consumer holds, as any held message', async () => {
    const { server, dispatcher } = await start(1, 1);
    dispatcher.pause(0);
    dispatcher.accept(0, 'held');
    expect(await dispatcher.stop(1_000)).toBe(true);
    expect(server.released).toEqual(['held']);
    expect(server.delivered).toEqual([]);
  });
});
