// notifier: takes `status.changed` (a stage step: its transitions in order), emits nothing.
// Side effect: applies the step's transitions to Redis in one call of the applyStatus Lua script
// (shared/status.ts), which keeps the status monotonic — a transition that is not newer than the
// current status (older, duplicated, or after a terminal state) changes nothing — and for each
// accepted one bumps the task's seq, appends it to the history and PUBLISHes it on the task's
// channel, atomically. Out-of-order and repeated deliveries are therefore simply acked.
// Retried (503 → the source redelivers): Redis unavailable. A malformed step is a
// ValidationError (400): the source dead-letters it.
import { EVENT_TYPES } from '../../shared/contract';
import type { EventHandler } from '../../shared/runtime/function-app';
import type { StatusStore } from '../../shared/ports';
import { toStatusChange } from './status-update';

export type NotifierDeps = {
  status: Pick<StatusStore, 'apply'>;
};

export function createHandler(deps: NotifierDeps): EventHandler {
  return {
    acceptedTypes: [EVENT_TYPES.statusChanged],
    acceptsBatches: true,
    async handle(event, ctx) {
      const change = toStatusChange(event);
      const seq = await deps.status.apply(change.taskId, change.stage, change.transitions);
      const last = change.transitions[change.transitions.length - 1]!;
      const fields = { state: last.state, attempt: last.attempt, progress: last.progress, transitions: change.transitions.length };
      if (seq > 0) ctx.logger.debug({ ...fields, seq }, 'status applied');
      else ctx.logger.debug(fields, 'status not newer: ignored');
    },
  };
}
