import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { DependencyUnavailableError } from '../shared/errors';
import { createLogger } from '../shared/logger';
import { createStatusHub, type StatusListener, type SubscriberConnection } from './status-hub';

const logger = createLogger('status-hub-test', 'silent');

/** A subscriber connection that records commands and lets the test deliver messages. */
function createFakeConnection(keyPrefix = '') {
  const emitter = new EventEmitter();
  const calls: string[] = [];
  let failNext = false;
  const connection: SubscriberConnection & { status: string } = {
    status: 'ready',
    options: { keyPrefix },
    async subscribe(channel) {
      calls.push(`subscribe ${channel}`);
      if (failNext) {
        failNext = false;
        throw new Error("Stream isn't writeable and enableOfflineQueue options is false");
      }
      return 1;
    },
    async unsubscribe(channel) {
      calls.push(`unsubscribe ${channel}`);
      return 0;
    },
    on(event: string, listener: (...args: string[]) => void) {
      emitter.on(event, listener);
      return connection;
    },
  };
  return {
    connection,
    calls,
    failNextSubscribe: () => {
      failNext = true;
    },
    deliver: (channel: string, message: string) => emitter.emit('message', channel, message),
    drop: () => emitter.emit('close'),
    reconnect: () => emitter.emit('ready'),
  };
}

function recordingListener() {
  const messages: string[] = [];
  let resyncs = 0;
  const listener: StatusListener = {
    onMessage: (message) => messages.push(message),
    onResync: () => {
      resyncs += 1;
    },
  };
  return { listener, messages, resyncs: () => resyncs };
}

describe('status hub', () => {
  it('subscribes a channel once for many listeners and fans messages out to each', async () => {
    const fake = createFakeConnection();
    const hub = createStatusHub(fake.connection, logger);
    const a = recordingListener();
    const b = recordingListener();
    const other = recordingListener();
    await hub.subscribe('task_status:1', a.listener);
    await hub.subscribe('task_status:1', b.listener);
    await hub.subscribe('task_status:2', other.listener);
    expect(fake.calls).toEqual(['subscribe task_status:1', 'subscribe task_status:2']);
    expect(hub.subscriptionCount()).toBe(2);
    expect(hub.listenerCount()).toBe(3);

    fake.deliver('task_status:1', 'm1');
    expect(a.messages).toEqual(['m1']);
    expect(b.messages).toEqual(['m1']);
    expect(other.messages).toEqual([]);
  });

  it('with a key prefix, subscribes and releases the prefixed channel and delivers its messages', async () => {
    const fake = createFakeConnection('app1:');
    const hub = createStatusHub(fake.connection, logger);
    const watcher = recordingListener();
    const release = await hub.subscribe('task_status:1', watcher.listener);
    fake.deliver('task_status:1', 'unprefixed: an application on the same Redis');
    fake.deliver('app1:task_status:1', 'm1');
    expect(watcher.messages).toEqual(['m1']);
    release();
    expect(fake.calls).toEqual(['subscribe app1:task_status:1', 'unsubscribe app1:task_status:1']);
  });

  it('unsubscribes when the last listener leaves, once, and subscribes again for a new listener', async () => {
    const fake = createFakeConnection();
    const hub = createStatusHub(fake.connection, logger);
    const releaseA = await hub.subscribe('c', recordingListener().listener);
    const releaseB = await hub.subscribe('c', recordingListener().listener);
    releaseA();
    releaseA();
    expect(fake.calls).toEqual(['subscribe c']);
    expect(hub.listenerCount()).toBe(1);
    releaseB();
    expect(fake.calls).toEqual(['subscribe c', 'unsubscribe c']);
    expect(hub.subscriptionCount()).toBe(0);

    const late = recordingListener();
    await hub.subscribe('c', late.listener);
    expect(fake.calls).toEqual(['subscribe c', 'unsubscribe c', 'subscribe c']);
    fake.deliver('c', 'after');
    expect(late.messages).toEqual(['after']);
  });

  it('answers UNAVAILABLE when Redis refuses the subscription, and tries again for the next listener', async () => {
    const fake = createFakeConnection();
    const hub = createStatusHub(fake.connection, logger);
    fake.failNextSubscribe();
    await expect(hub.subscribe('c', recordingListener().listener)).rejects.toBeInstanceOf(DependencyUnavailableError);
    expect(hub.subscriptionCount()).toBe(0);
    expect(hub.listenerCount()).toBe(0);
    await hub.subscribe('c', recordingListener().listener);
    expect(fake.calls).toEqual(['subscribe c', 'subscribe c']);
    expect(hub.subscriptionCount()).toBe(1);
  });

  it('after a dropped connection, subscribes every channel again and asks its listeners to resync', async () => {
    const fake = createFakeConnection();
    const hub = createStatusHub(fake.connection, logger);
    const a = recordingListener();
    const b = recordingListener();
    await hub.subscribe('c1', a.listener);
    await hub.subscribe('c2', b.listener);
    fake.reconnect();
    expect(fake.calls).toHaveLength(2);

    fake.drop();
    fake.reconnect();
    expect(fake.calls).toEqual(['subscribe c1', 'subscribe c2', 'subscribe c1', 'subscribe c2']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(a.resyncs()).toBe(1);
    expect(b.resyncs()).toBe(1);
  });

  it('keeps its listeners when subscribing again fails, and retries on the next reconnect', async () => {
    const fake = createFakeConnection();
    const hub = createStatusHub(fake.connection, logger);
    const a = recordingListener();
    await hub.subscribe('c', a.listener);
    fake.drop();
    fake.failNextSubscribe();
    fake.reconnect();
    await new Promise((resolve) => setImmediate(resolve));
    expect(hub.subscriptionCount()).toBe(1);
    expect(a.resyncs()).toBe(0);

    fake.reconnect();
    await new Promise((resolve) => setImmediate(resolve));
    expect(fake.calls).toEqual(['subscribe c', 'subscribe c', 'subscribe c']);
    expect(a.resyncs()).toBe(1);
    fake.deliver('c', 'back');
    expect(a.messages).toEqual(['back']);
  });
});
