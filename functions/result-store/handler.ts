// result-store: takes `finished` (FinishedData) from the worker and persists the task's result
// in `task_result:<id>` with a TTL, THEN reports the terminal status (SUCCEEDED, FAILED or
// CANCELLED) with audit `result.stored`, in one status event. The order is the point: a client that sees the
// terminal status can already read the result (docs/design.md §5.5).
// - The write is a compare-and-set on the attempt: a late result from an older attempt never
//   overwrites a newer one, and is acked without reporting anything. The same attempt again (a
//   redelivery) is stored again and reported again; the deterministic event ids dedupe that.
// Retried (5xx): Redis or NATS unavailable. A malformed event is a ValidationError (400).
import { EVENT_TYPES, type FinishedData } from '../../shared/contract';
import { createEmitter } from '../../shared/emit';
import type { Publisher, ResultStore } from '../../shared/ports';
import type { EventHandler } from '../../shared/runtime/function-app';
import type { FinishMetrics, TaskEnd } from '../../shared/task-metrics';
import { toFinishedData, toStoredResult } from './result';

export const COMPONENT = 'result-store';

export type ResultStoreDeps = {
  publisher: Publisher;
  /** Stores unless a result of a later attempt is there; true when stored. */
  results: ResultStore;
  now: () => number;
  /** Tasks finished and their end-to-end time; absent when metrics are off. */
  metrics?: FinishMetrics | undefined;
};

function toStatusMessage(data: FinishedData): string {
  if (data.state === 'FAILED') return data.error;
  if (data.state === 'CANCELLED') return data.error || 'cancelled while running';
  return '';
}

function toTaskEnd(state: FinishedData['state']): TaskEnd {
  return state === 'SUCCEEDED' ? 'succeeded' : state === 'CANCELLED' ? 'cancelled' : 'failed';
}

export function createHandler(deps: ResultStoreDeps): EventHandler {
  const emitter = createEmitter(deps.publisher, COMPONENT, deps.now);

  return {
    acceptedTypes: [EVENT_TYPES.finished],
    // Its events are independent of each other: several arrive per request (docs/design.md §6).
    acceptsBatches: true,
    async handle(event, ctx) {
      const data = toFinishedData(event);
      const taskId = data.task.taskId;
      const emit = emitter.causedBy(event);

      const stored = await deps.results.store(taskId, data.attempts, JSON.stringify(toStoredResult(data)));
      if (!stored) {
        ctx.logger.info({ attempts: data.attempts }, 'a result of a later attempt is stored: this one is dropped');
        return;
      }

      // A cancellation was counted by the gateway, where it became final.
      if (data.state !== 'CANCELLED') deps.metrics?.finished(data.task, toTaskEnd(data.state), (deps.now() - data.task.createdAtMs) / 1000);
      await emit.step(
        taskId,
        [{ state: data.state, attempt: data.attempts, message: toStatusMessage(data), progress: data.state === 'SUCCEEDED' ? 100 : 0 }],
        { action: 'result.stored', attempt: data.attempts, detail: `${data.state} after ${data.attempts} attempt(s)` },
      );
    },
  };
}
