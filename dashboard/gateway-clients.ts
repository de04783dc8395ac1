// One client of the gateway per API key in use, since the client library sends its key on every
// call. Kept in memory only (never logged, never written anywhere), at most `max` of them: the
// least recently used is closed when a new key comes. A request without a key uses a client
// without one, and the gateway decides whether that will do.
import type { TaskManagerClient } from '../client/client';

/** The part of the client library the dashboard calls: the fake in the tests implements this. */
export type GatewayPort = Pick<
  TaskManagerClient,
  | 'submit'
  | 'getTask'
  | 'getResult'
  | 'cancel'
  | 'watch'
  | 'listTaskTypes'
  | 'listTasks'
  | 'listDeadLetters'
  | 'replayDeadLetters'
  | 'listAuditEvents'
  | 'getQueueStats'
  | 'pauseQueue'
  | 'resumeQueue'
  | 'close'
>;

export type GatewayClients = {
  /** The client that calls with this key (undefined: without one). */
  forKey(key: string | undefined): GatewayPort;
  closeAll(): void;
};

export function createGatewayClients(connect: (key: string | undefined) => GatewayPort, max = 64): GatewayClients {
  const clients = new Map<string, GatewayPort>();
  return {
    forKey(key) {
      const id = key ?? '';
      const found = clients.get(id);
      if (found) {
        clients.delete(id);
        clients.set(id, found);
        return found;
      }
      const client = connect(key);
      clients.set(id, client);
      if (clients.size > max) {
        const [oldest, evicted] = clients.entries().next().value!;
        clients.delete(oldest);
        evicted.close();
      }
      return client;
    },
    closeAll() {
      for (const client of clients.values()) client.close();
      clients.clear();
    },
  };
}
