// Cancellation of running tasks. The gateway PUBLISHes a task id on the cancel channel when a
// client cancels; every worker process holds ONE subscriber connection and aborts the attempts
// of that task it is running. Tasks not running here are unaffected: their next delivery sees
// the CANCELLED status and is skipped.
import { KEYS } from '../../shared/contract';
import type { Logger } from '../../shared/logger';
import { duplicateForSubscribe, toChannel, type Redis } from '../../shared/redis';

export type CancelSource = {
  /** Calls `onCancel` when a cancel for `taskId` arrives; the returned function stops watching. */
  watch(taskId: string, onCancel: () => void): () => void;
};

export type CancelRegistry = CancelSource & {
  /** Delivers a cancel message (the task id) to every watcher of that task. */
  cancel(taskId: string): void;
  watching(): number;
};

/** In-memory watchers, fed by whatever delivers cancel messages (Redis here, a test directly). */
export function createCancelRegistry(): CancelRegistry {
  const watchers = new Map<string, Set<() => void>>();
  return {
    watch(taskId, onCancel) {
      const set = watchers.get(taskId) ?? new Set();
      set.add(onCancel);
      watchers.set(taskId, set);
      return () => {
        set.delete(onCancel);
        if (set.size === 0 && watchers.get(taskId) === set) watchers.delete(taskId);
      };
    },
    cancel(taskId) {
      for (const onCancel of [...(watchers.get(taskId) ?? [])]) onCancel();
    },
    watching: () => watchers.size,
  };
}

export type RedisCancelSource = CancelSource & { close(): Promise<void> };

/** Subscribes to the cancel channel on a dedicated connection (the client re-subscribes on reconnect). */
export async function connectCancelSource(redis: Redis, logger: Logger): Promise<RedisCancelSource> {
  const registry = createCancelRegistry();
  const subscriber = duplicateForSubscribe(redis);
  const cancelChannel = toChannel(redis, KEYS.cancelChannel);
  subscriber.on('message', (channel: string, message: string) => {
    if (channel !== cancelChannel) return;
    const taskId = message.trim();
    if (taskId !== '') registry.cancel(taskId);
  });
  await subscriber.subscribe(cancelChannel);
  logger.info({ channel: cancelChannel }, 'listening for cancellations');
  return {
    watch: registry.watch,
    async close() {
      subscriber.disconnect();
    },
  };
}
