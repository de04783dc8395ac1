// scheduler: takes `accepted` (a TaskEnvelope with its enrichment), emits `scheduled`.
// - A task that is terminal (cancelled) or already past scheduling (a worker reported it) is
//   acked and skipped: audit `skipped.<state>`.
// - Due now (notBeforeMs <= now): at the same time, one status event (SCHEDULED, audit
//   `scheduled`) and `scheduled` on tasks.worker.<priority>.
// - Due later: the `scheduled` event is stored in Redis and its id queued in the delayed sorted
//   set (idempotent: same key, same score), then one status event (SCHEDULED "delayed until …",
//   audit `delayed`). The promoter (promoter.ts) publishes it when due.
// Retried (5xx → the source redelivers): Redis or NATS unavailable. Every id is deterministic,
// so a redelivery re-sends the same events and JetStream drops the duplicates.
// A malformed envelope is a ValidationError (400): the source dead-letters it.
import { EVENT_TYPES, isTerminal, toWorkerSubject, type StoredStatus } from '../../shared/contract';
import { createEmitter, EVENT_IDS, toRedriveMark } from '../../shared/emit';
import { toTaskEnvelope } from '../../shared/envelope';
import { createEvent, type WireEvent } from '../../shared/events';
import type { DelayedStore, Publisher, StatusStore } from '../../shared/ports';
import type { EventHandler } from '../../shared/runtime/function-app';
import { toRank } from '../../shared/status-rank';
import { injectTraceContext } from '../../shared/tracing';

export const COMPONENT = 'scheduler';

export type SchedulerDeps = {
  publisher: Publisher;
  status: Pick<StatusStore, 'read'>;
  store: DelayedStore;
  now: () => number;
};

const SCHEDULED_PHASE = toRank({ state: 'SCHEDULED' }).phase;

/** Terminal, or RUNNING/RETRYING: the task reached a worker already, scheduling it again is wrong. */
function isPastScheduling(status: StoredStatus | undefined): status is StoredStatus {
  return status !== undefined && (isTerminal(status.state) || toRank(status).phase > SCHEDULED_PHASE);
}

export function createHandler(deps: SchedulerDeps): EventHandler {
  const emitter = createEmitter(deps.publisher, COMPONENT, deps.now);

  return {
    acceptedTypes: [EVENT_TYPES.accepted],
    // Its events are independent of each other: several arrive per request (docs/design.md §6).
    acceptsBatches: true,
    async handle(event, ctx) {
      const envelope = toTaskEnvelope(event);
      const { taskId } = envelope;
      const emit = emitter.causedBy(event);
      const redrive = toRedriveMark(event);

      const current = await deps.status.read(taskId);
      if (isPastScheduling(current)) {
        ctx.logger.info({ state: current.state }, 'task already past scheduling: skipped');
        await emit.audit(taskId, `skipped.${current.state.toLowerCase()}`, { detail: `task is ${current.state}` });
        return;
      }

      const scheduled: WireEvent = {
        ...createEvent({ id: EVENT_IDS.scheduled(taskId), component: COMPONENT, type: EVENT_TYPES.scheduled, taskId, data: envelope, timeMs: deps.now() }),
        ...(redrive === undefined ? {} : { redrive }),
      };
      const subject = toWorkerSubject(envelope.priority);

      if (envelope.notBeforeMs <= deps.now()) {
        await Promise.all([
          emit.step(taskId, [{ state: 'SCHEDULED', message: `queued on ${subject}` }], { action: 'scheduled', detail: subject }),
          deps.publisher.publish(subject, scheduled),
        ]);
        return;
      }

      const dueAt = new Date(envelope.notBeforeMs).toISOString();
      // The stored event keeps this delivery's trace context, so the promoted hop joins the trace.
      await deps.store.add(taskId, envelope.notBeforeMs, JSON.stringify(injectTraceContext(scheduled)));
      ctx.logger.info({ dueAt }, 'task delayed');
      await emit.step(taskId, [{ state: 'SCHEDULED', message: `delayed until ${dueAt}` }], { action: 'delayed', detail: `until ${dueAt} on ${subject}` });
    },
  };
}
