// deadletter: takes `task.deadlettered` (DeadLetterData), emits nothing.
// Side effect: stores each dead letter once per event id (the marker `dead_letter_seen:<event id>`
// and the writes happen in one script, shared/dead-letters.ts), so a redelivered or re-published
// dead letter is stored once: under its task's tenant, with the task's type, in the tenant's
// capped index that ListDeadLetters pages through (what the cap drops is counted), and in the
// global `dead_letter` list as before.
// Retried (503 → the source redelivers): Redis unavailable. Malformed data is a ValidationError
// (400); the source only logs that for this stage (no dead letter about a dead letter).
import { EVENT_TYPES, type DeadLetterData } from '../../shared/contract';
import { ValidationError } from '../../shared/errors';
import type { WireEvent } from '../../shared/events';
import type { DeadLetterStore } from '../../shared/ports';
import type { EventHandler } from '../../shared/runtime/function-app';
import type { DeadLetterMetrics } from '../../shared/task-metrics';

export type DeadLetterDeps = {
  /** Each event id once (shared/dead-letters.ts). */
  store: DeadLetterStore;
  /** Dead letters stored; absent when metrics are off. */
  metrics?: DeadLetterMetrics | undefined;
};

function invalid(field: string, expected: string, value: unknown): ValidationError {
  return new ValidationError(`dead letter data.${field} must be ${expected}, got ${JSON.stringify(value) ?? 'nothing'}`, {
    field: `data.${field}`,
  });
}

/**
 * The dead letter an event carries, or a ValidationError naming the first field that is wrong.
 * The task id may be empty: the source dead-letters messages too broken to name their task.
 */
export function toDeadLetterData(event: Pick<WireEvent, 'data'>): DeadLetterData {
  const data = event.data;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ValidationError('dead-letter event data must be a dead letter (a JSON object)', { field: 'data' });
  }
  const d = data as Record<string, unknown>;
  if (typeof d.taskId !== 'string') throw invalid('taskId', 'a string', d.taskId);
  if (typeof d.stage !== 'string' || d.stage === '') throw invalid('stage', 'a non-empty string', d.stage);
  if (typeof d.reason !== 'string') throw invalid('reason', 'a string', d.reason);
  if (!Number.isSafeInteger(d.attempts) || (d.attempts as number) < 0) {
    throw invalid('attempts', 'a non-negative integer', d.attempts);
  }
  if (d.lastError !== undefined && typeof d.lastError !== 'string') throw invalid('lastError', 'a string', d.lastError);
  if (!Number.isSafeInteger(d.atMs) || (d.atMs as number) < 0) {
    throw invalid('atMs', 'a non-negative integer (ms since epoch)', d.atMs);
  }
  return {
    taskId: d.taskId,
    stage: d.stage,
    reason: d.reason,
    attempts: d.attempts as number,
    lastError: d.lastError ?? '',
    event: d.event ?? null,
    atMs: d.atMs as number,
  };
}

export function createHandler(deps: DeadLetterDeps): EventHandler {
  return {
    acceptedTypes: [EVENT_TYPES.deadlettered],
    // Its events are independent of each other: several arrive per request (docs/design.md §6).
    acceptsBatches: true,
    async handle(event, ctx) {
      const letter = toDeadLetterData(event);
      const appended = await deps.store.store(event.id, letter);
      if (appended) {
        deps.metrics?.deadLettered(letter.stage);
        ctx.logger.warn({ stage: letter.stage, reason: letter.reason, attempts: letter.attempts }, 'dead letter stored');
      } else {
        ctx.logger.debug({ stage: letter.stage }, 'dead letter repeat ignored');
      }
    },
  };
}
