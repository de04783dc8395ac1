// The coalescing NATS transport on a real nats-server: the frames of one event-loop turn leave in
// one socket write, in order, and a close writes what is still queued.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'node:net';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type TestServer } from '../test/helpers/servers';
import { connectCoalesced } from './nats-transport';

let server: TestServer;
let watcher: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  watcher = await connect({ servers: server.url });
});

afterAll(async () => {
  await watcher?.close();
  await server?.stop();
});

/** The socket under a connection (nats.js keeps it on its transport). */
function socketOf(nc: NatsConnection): Socket {
  return (nc as unknown as { protocol: { transport: { socket: Socket } } }).protocol.transport.socket;
}

/** Counts the writes to the connection's socket from now on. */
function countWrites(nc: NatsConnection): { written: () => string[] } {
  const socket = socketOf(nc);
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  const written: string[] = [];
  socket.write = ((...args: unknown[]) => {
    written.push(Buffer.from(args[0] as Uint8Array).toString());
    return write(...args);
  }) as Socket['write'];
  return { written: () => written };
}

/** Collects `count` messages on `subject` (the subscription is in place when this returns). */
async function collect(subject: string, count: number): Promise<() => Promise<string[]>> {
  const sub = watcher.subscribe(subject, { max: count });
  await watcher.flush();
  return async () => {
    const seen: string[] = [];
    for await (const message of sub) seen.push(message.string());
    return seen;
  };
}

/** Runs each callback as an immediate of its own: node runs the immediates queued before a turn's
 * check phase in that phase, so these are separate callbacks of one turn. */
function inOneTurnFromSeparateCallbacks(callbacks: Array<() => void>): Promise<void> {
  return new Promise((resolve) => {
    for (const callback of callbacks) setImmediate(callback);
    setImmediate(resolve);
  });
}

/** Resolves once this turn's queued writes have gone out (they leave with setImmediate). */
async function nextTurn(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
}

describe('the coalescing NATS transport', () => {
  it('sends the publishes of separate callbacks in one turn as one write, in order', async () => {
    const nc = await connectCoalesced({ servers: server.url });
    const received = await collect('coalesce.turn', 20);
    const writes = countWrites(nc);
    const texts = Array.from({ length: 20 }, (_, index) => `message ${index}`);

    await inOneTurnFromSeparateCallbacks(texts.map((text) => () => nc.publish('coalesce.turn', text)));
    await nextTurn();

    expect(writes.written(), 'the writes').toHaveLength(1);
    expect(await received()).toEqual(texts);
    await nc.close();
  });

  it('writes each turn on its own: nothing waits for a later turn', async () => {
    const nc = await connectCoalesced({ servers: server.url });
    const received = await collect('coalesce.turns', 3);
    const writes = countWrites(nc);

    for (const text of ['a', 'b', 'c']) {
      nc.publish('coalesce.turns', text);
      await nextTurn();
    }
    expect(writes.written(), 'the writes').toHaveLength(3);
    expect(await received()).toEqual(['a', 'b', 'c']);
    await nc.close();
  });

  it('writes what is queued when the connection closes in the same turn', async () => {
    const nc = await connectCoalesced({ servers: server.url });
    const received = await collect('coalesce.close', 2);
    const writes = countWrites(nc);

    nc.publish('coalesce.close', 'last');
    nc.publish('coalesce.close', 'words');
    // nats.js hands its buffer to the transport in a microtask (a close before that drops the
    // publishes, with or without coalescing); the transport then holds them until the turn ends.
    await Promise.resolve();
    expect(writes.written(), 'the writes').toEqual([]);
    await nc.close();

    expect(await received()).toEqual(['last', 'words']);
  });

  it('keeps coalescing on the new socket after a reconnect', async () => {
    const nc = await connectCoalesced({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 50 });
    const first = socketOf(nc);
    const reconnected = (async () => {
      for await (const status of nc.status()) if (status.type === 'reconnect') return;
    })();
    first.destroy();
    await reconnected;
    expect(socketOf(nc)).not.toBe(first);

    const received = await collect('coalesce.again', 5);
    await nc.flush(); // what nats.js sends after a reconnect (its subscriptions again) goes first
    const writes = countWrites(nc);
    await inOneTurnFromSeparateCallbacks([0, 1, 2, 3, 4].map((index) => () => nc.publish('coalesce.again', String(index))));
    await nextTurn();
    expect(writes.written(), 'the writes').toHaveLength(1);
    expect(await received()).toEqual(['0', '1', '2', '3', '4']);
    await nc.close();
  });
});
