// Whether the gateway can do its job right now: NATS connected and both Redis connections
// ready. Drives grpc.health.v1 (SERVING / NOT_SERVING) and lets SubmitTask answer UNAVAILABLE
// before writing anything while NATS is known to be down.
import type { NatsConnection } from '../shared/nats';
import type { ConnectionCheck } from './service';

type RedisLike = { readonly status: string; on(event: string, listener: () => void): unknown };

export type ConnectionState = ConnectionCheck & {
  isServing(): boolean;
  /** Called after any connection event (the caller compares states itself). */
  onChange(listener: () => void): void;
};

export function watchConnections(nats: NatsConnection, redisConnections: readonly RedisLike[]): ConnectionState {
  let natsConnected = !nats.isClosed();
  const listeners: (() => void)[] = [];
  const changed = () => {
    for (const listener of listeners) listener();
  };
  for (const redis of redisConnections) {
    for (const event of ['ready', 'close', 'end', 'reconnecting']) redis.on(event, changed);
  }
  void (async () => {
    for await (const status of nats.status()) {
      if (status.type === 'disconnect') natsConnected = false;
      else if (status.type === 'reconnect') natsConnected = true;
      else continue;
      changed();
    }
  })();
  void nats.closed().then(() => {
    natsConnected = false;
    changed();
  });

  const state: ConnectionState = {
    natsUp: () => natsConnected && !nats.isClosed(),
    redisUp: () => redisConnections.every((redis) => redis.status === 'ready'),
    isServing: () => state.natsUp() && state.redisUp(),
    onChange(listener) {
      listeners.push(listener);
    },
  };
  return state;
}
