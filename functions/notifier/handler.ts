// notifier: takes `status.changed` (a StatusUpdate), emits nothing.
// Side effect: applies the update to Redis with the applyStatus Lua script (shared/status.ts),
// which keeps the status monotonic — an update that is not newer than the current one (older,
// duplicated, or after a terminal state) changes nothing — and for an accepted change bumps the
// task's seq, appends it to the history and PUBLISHes it on the task's channel, atomically.
// Out-of-order and repeated deliveries are therefore simply acked.
// Retried (503 → the source redelivers): Redis unavailable. A malformed update is a
// ValidationError (400): the source dead-letters it.
import { EVENT_TYPES, type StatusUpdate } from '../../shared/contract';
import { isTaskmanagerError } from '../../shared/errors';
import { toUnavailable } from '../../shared/redis';
import type { EventHandler } from '../../shared/runtime/function-app';
import { toStatusUpdate } from './status-update';

export type NotifierDeps = {
  /** shared/status.ts applyStatus over Redis: the new seq, or 0 when the update was not newer. */
  applyStatus: (update: StatusUpdate) => Promise<number>;
};

export function createHandler(deps: NotifierDeps): EventHandler {
  return {
    acceptedTypes: [EVENT_TYPES.statusChanged],
    acceptsBatches: true,
    async handle(event, ctx) {
      const update = toStatusUpdate(event);
      let seq: number;
      try {
        seq = await deps.applyStatus(update);
      } catch (error) {
        if (isTaskmanagerError(error)) throw error;
        throw toUnavailable(error, `applying ${update.state} to task ${update.taskId}`);
      }
      if (seq > 0) {
        ctx.logger.debug({ state: update.state, attempt: update.attempt, progress: update.progress, seq }, 'status applied');
      } else {
        ctx.logger.debug({ state: update.state, attempt: update.attempt, progress: update.progress }, 'status not newer: ignored');
      }
    },
  };
}
