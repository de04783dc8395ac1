// One Redis subscriber connection for the whole gateway, shared by every StatusStream: a
// channel is subscribed once however many clients watch the task, messages fan out to its
// listeners, and the channel is unsubscribed when its last listener leaves. Thousands of
// watchers cost one connection, not thousands.
//
// After the connection drops, Redis has forgotten the subscriptions and messages published
// meanwhile are gone. The hub subscribes again itself (autoResubscribe is off so that it knows
// when the subscriptions are back) and then tells every listener to resync, i.e. read what it
// missed from the task's history.
import { toChannel, toUnavailable, type Redis } from '../shared/redis';
import type { Logger } from '../shared/logger';

export type StatusListener = {
  onMessage(message: string): void;
  /** The subscription was lost and is back: messages may have been missed. */
  onResync(): void;
};

/** The part of a subscriber connection (shared/redis-client.ts) the hub uses (a fake in unit tests). */
export type SubscriberConnection = {
  readonly status: string;
  /** The key prefix, which the hub puts before channel names too (the client does not). */
  readonly options: { readonly keyPrefix?: string | undefined };
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  on(event: 'ready' | 'close', listener: () => void): unknown;
};

export type StatusHub = {
  /** Resolves once Redis confirmed the subscription of `channel` (a KEYS channel name, which the
   * hub prefixes); the returned function releases it. */
  subscribe(channel: string, listener: StatusListener): Promise<() => void>;
  /** Channels currently subscribed. */
  subscriptionCount(): number;
  listenerCount(): number;
};

type Channel = { listeners: Set<StatusListener>; ready: Promise<void> };

export function createStatusHub(connection: SubscriberConnection, logger: Logger): StatusHub {
  const channels = new Map<string, Channel>();
  let lost = false;

  const subscribeChannel = (name: string, entry: Channel): Promise<void> => {
    const ready = connection.subscribe(name).then(() => undefined);
    ready.catch(() => {
      // Forget a failed first subscription so that the next watcher tries again.
      if (channels.get(name) === entry && entry.ready === ready) channels.delete(name);
    });
    return ready;
  };

  /** Keeps the channel and its listeners; the next 'ready' tries again. */
  const resubscribeChannel = (name: string, entry: Channel) => {
    entry.ready = connection.subscribe(name).then(() => undefined);
    entry.ready.then(
      () => {
        for (const listener of entry.listeners) listener.onResync();
      },
      (error: unknown) => {
        lost = true;
        logger.warn({ channel: name, err: String(error) }, 'resubscribe failed; retrying on reconnect');
      },
    );
  };

  connection.on('message', (channel, message) => {
    const entry = channels.get(channel);
    if (!entry) return;
    for (const listener of entry.listeners) listener.onMessage(message);
  });
  connection.on('close', () => {
    lost = true;
  });
  connection.on('ready', () => {
    if (!lost) return;
    lost = false;
    for (const [name, entry] of channels) resubscribeChannel(name, entry);
  });

  return {
    async subscribe(channel, listener) {
      const name = toChannel(connection, channel);
      let entry = channels.get(name);
      if (!entry) {
        const created: Channel = { listeners: new Set(), ready: Promise.resolve() };
        created.ready = subscribeChannel(name, created);
        channels.set(name, created);
        entry = created;
      }
      entry.listeners.add(listener);
      const joined = entry;
      try {
        await joined.ready;
      } catch (error) {
        joined.listeners.delete(listener);
        throw toUnavailable(error, `subscribing to ${name}`);
      }
      let released = false;
      return () => {
        if (released) return;
        released = true;
        joined.listeners.delete(listener);
        if (joined.listeners.size > 0 || channels.get(name) !== joined) return;
        channels.delete(name);
        connection.unsubscribe(name).catch((error: unknown) => {
          // A dropped connection forgets its subscriptions anyway.
          logger.debug({ channel: name, err: String(error) }, 'unsubscribe failed');
        });
      };
    },
    subscriptionCount: () => channels.size,
    listenerCount: () => [...channels.values()].reduce((sum, entry) => sum + entry.listeners.size, 0),
  };
}

/**
 * The hub's connection: commands fail fast while Redis is down (a new stream answers
 * UNAVAILABLE instead of hanging), and the hub resubscribes by itself after a reconnect.
 */
export async function connectStatusSubscriber(redis: Redis, name: string): Promise<Redis> {
  const subscriber = redis.duplicate({
    connectionName: name,
    lazyConnect: true,
    autoResubscribe: false,
    enableOfflineQueue: false,
  });
  // The main connection already logs Redis outages.
  subscriber.on('error', () => undefined);
  await subscriber.connect();
  return subscriber;
}
