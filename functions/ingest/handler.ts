// ingest: takes `submitted` (a TaskEnvelope), emits `accepted` on tasks.schedule.
// - A task that is already terminal (cancelled by the gateway before we got to it) is acked and
//   skipped: audit `skipped.<state>`, nothing else. (A valid task's enricher call goes out beside
//   that status read, so a skipped task's enrichment is made and dropped.)
// - An unknown type or a payload that breaks its schema is REJECTED for good: dead letter, then
//   one status event REJECTED with audit `rejected`, and the delivery is acked (never retried).
//   The status goes last because it is what the terminal check above reads back: if we crash
//   before it, the redelivery repeats the whole rejection and the deterministic ids dedupe it.
// - A valid task: a synchronous call to the enricher (bounded by a timeout), then, at the same
//   time, one status event (VALIDATED, ENRICHED, audit `accepted`) and `accepted` carrying the
//   envelope plus `enrichment`. Their order does not matter: the notifier never moves a status
//   backwards, and a crash between them repeats both (deduplicated by id).
// Retried (5xx → the source redelivers): Redis/NATS unavailable, the enricher failing or slow.
// A malformed envelope is a ValidationError (400): the source dead-letters it.
import type { FinishMetrics } from '../../shared/task-metrics';
import { EVENT_TYPES, isTerminal, SUBJECTS, type TaskEnvelope } from '../../shared/contract';
import { createEmitter, EVENT_IDS } from '../../shared/emit';
import { toTaskEnvelope } from '../../shared/envelope';
import { DependencyUnavailableError, describeError, isTaskmanagerError } from '../../shared/errors';
import type { Publisher, StatusStore } from '../../shared/ports';
import type { EventHandler } from '../../shared/runtime/function-app';
import type { PayloadValidator } from '../../shared/task-types';
import type { EnrichFn, Enrichment } from './enricher-client';

export const COMPONENT = 'ingest';

export type IngestDeps = {
  publisher: Publisher;
  status: Pick<StatusStore, 'read'>;
  validatePayload: PayloadValidator;
  enrich: EnrichFn;
  enricherTimeoutMs: number;
  now: () => number;
  /** Tasks rejected (a terminal state); absent when metrics are off. */
  metrics?: FinishMetrics | undefined;
};

/** Calls the enricher, giving up after `timeoutMs` even if the call ignores its signal. */
async function enrichWithTimeout(deps: IngestDeps, envelope: TaskEnvelope): Promise<Enrichment> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new DependencyUnavailableError(`enricher did not answer within ${deps.enricherTimeoutMs} ms`);
      controller.abort(error);
      reject(error);
    }, deps.enricherTimeoutMs);
  });
  try {
    const input = { taskId: envelope.taskId, type: envelope.type, metadata: envelope.metadata };
    return await Promise.race([deps.enrich(input, controller.signal), timedOut]);
  } catch (error) {
    if (isTaskmanagerError(error) && error.retryable) throw error;
    throw new DependencyUnavailableError(`enricher call failed: ${describeError(error)}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

export function createHandler(deps: IngestDeps): EventHandler {
  const emitter = createEmitter(deps.publisher, COMPONENT, deps.now);

  return {
    acceptedTypes: [EVENT_TYPES.submitted],
    // Its events are independent of each other: several arrive per request (docs/design.md §6).
    acceptsBatches: true,
    async handle(event, ctx) {
      const envelope = toTaskEnvelope(event);
      const { taskId } = envelope;
      const emit = emitter.causedBy(event);

      const check = deps.validatePayload(envelope.type, envelope.payload);
      // A valid task's enrichment starts beside the status read: one round trip less on every
      // task's path. A task found terminal drops it (and an enricher failure with it).
      const enriching = check.ok ? enrichWithTimeout(deps, envelope) : undefined;
      enriching?.catch(() => undefined);
      const current = await deps.status.read(taskId);
      if (current && isTerminal(current.state)) {
        ctx.logger.info({ state: current.state }, 'task already terminal: skipped');
        await emit.audit(taskId, `skipped.${current.state.toLowerCase()}`, { detail: `task is ${current.state}` });
        return;
      }

      if (!check.ok) {
        ctx.logger.info({ reason: check.reason }, 'task rejected');
        await emit.deadLetter({ taskId, reason: check.reason, attempts: ctx.attempt, lastError: check.reason, event });
        await emit.step(taskId, [{ state: 'REJECTED', message: check.reason }], { action: 'rejected', detail: check.reason });
        deps.metrics?.finished(envelope, 'rejected', (deps.now() - envelope.createdAtMs) / 1000);
        return;
      }

      const enrichment = await enriching!;
      const accepted: TaskEnvelope = { ...envelope, enrichment };
      await Promise.all([
        emit.step(taskId, [{ state: 'VALIDATED' }, { state: 'ENRICHED' }], { action: 'accepted', detail: `type ${envelope.type}, priority ${envelope.priority}` }),
        emit.task(SUBJECTS.schedule, EVENT_TYPES.accepted, EVENT_IDS.accepted(taskId), taskId, accepted),
      ]);
    },
  };
}
