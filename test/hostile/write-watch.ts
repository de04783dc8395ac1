// Test-only: "nothing was written" as an observation rather than a guess. Redis keyspace
// notifications report every write command on the test's own redis-server (key and command),
// and a core NATS subscription sees every publish on the watched subjects. `drain()` returns what
// happened since the last call, after a marker has made the round trip, so nothing written
// before it can still be on its way.
import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { RedisClient as Redis } from '../../shared/redis-client';

export type WriteWatch = {
  /** Writes since the last drain: `redis <event> <key>` and `nats <subject>` lines. */
  drain(): Promise<string[]>;
  stop(): Promise<void>;
};

const MARKER_CHANNEL = 'hostile-test:marker';
/** Traffic on a wide subscription that changes nothing: replies, advisories, JetStream reads. */
const NOT_A_WRITE = /^(_INBOX\.|\$JS\.EVENT\.|\$JS\.API\.INFO$|\$JS\.API\.(STREAM|CONSUMER)\.(INFO|NAMES|LIST)\b|\$JS\.API\.STREAM\.MSG\.GET\.)/;
/** Keys written in the background whatever a request does: the scheduler renews the reconciler's
 * lease every sweep (functions/scheduler/reconciler-deps.ts). */
const BACKGROUND_KEY = /(^|:)reconciler:lease$/;

export async function watchWrites(redisUrl: string, nc: NatsConnection, subjects: readonly string[]): Promise<WriteWatch> {
  const admin = new Redis(redisUrl, { lazyConnect: true });
  await admin.connect();
  // Our own server (test/helpers/servers.ts): E = keyevent channels, A = every command class.
  await admin.config('SET', 'notify-keyspace-events', 'EA');
  const subscriber = new Redis(redisUrl, { lazyConnect: true });
  await subscriber.connect();

  let seen: string[] = [];
  const markers = new Map<string, () => void>();
  subscriber.on('pmessage', (_pattern: string, channel: string, key: string) => {
    if (!BACKGROUND_KEY.test(key)) seen.push(`redis ${channel.slice(channel.indexOf(':') + 1)} ${key}`);
  });
  subscriber.on('message', (channel: string, message: string) => {
    if (channel === MARKER_CHANNEL) markers.get(message)?.();
  });
  await subscriber.psubscribe('__keyevent@*__:*');
  await subscriber.subscribe(MARKER_CHANNEL);

  const subs = subjects.map((subject) =>
    nc.subscribe(subject, {
      callback: (_error, msg) => {
        if (msg && !NOT_A_WRITE.test(msg.subject)) seen.push(`nats ${msg.subject}`);
      },
    }),
  );
  await nc.flush();

  return {
    async drain() {
      // A PONG on our NATS connection follows every message the server routed to us before it.
      await nc.flush();
      const id = randomUUID();
      const arrived = new Promise<void>((resolve) => markers.set(id, resolve));
      await admin.publish(MARKER_CHANNEL, id);
      await arrived;
      markers.delete(id);
      const writes = seen;
      seen = [];
      return writes;
    },
    async stop() {
      for (const sub of subs) sub.unsubscribe();
      subscriber.disconnect();
      admin.disconnect();
    },
  };
}
