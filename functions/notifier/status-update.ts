// Reading a `status.changed` event's data. A status that cannot be applied as sent (unknown
// state, a task id other than the event's subject, progress outside 0..100) is refused with a
// ValidationError naming the field, so it is dead-lettered instead of corrupting the status.
import { TASK_STATE_NAMES, type StatusUpdate, type TaskStateName } from '../../shared/contract';
import { ValidationError } from '../../shared/errors';
import { requireTaskId, type WireEvent } from '../../shared/events';

const STATES: ReadonlySet<string> = new Set(TASK_STATE_NAMES);

function isNonNegativeInt(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function invalid(field: string, expected: string, value: unknown): ValidationError {
  return new ValidationError(`status update data.${field} must be ${expected}, got ${JSON.stringify(value) ?? 'nothing'}`, {
    field: `data.${field}`,
  });
}

/** The status update an event carries, or a ValidationError naming the first field that is wrong. */
export function toStatusUpdate(event: Pick<WireEvent, 'data' | 'subject'>): StatusUpdate {
  const subject = requireTaskId(event);
  const data = event.data;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ValidationError('status event data must be a status update (a JSON object)', { field: 'data' });
  }
  const d = data as Record<string, unknown>;
  if (typeof d.taskId !== 'string' || d.taskId === '') throw invalid('taskId', 'a non-empty string', d.taskId);
  if (d.taskId !== subject) {
    throw new ValidationError(`status update data.taskId "${d.taskId}" differs from the event subject "${subject}"`, {
      field: 'data.taskId',
    });
  }
  if (typeof d.state !== 'string' || !STATES.has(d.state)) {
    throw invalid('state', `one of ${[...STATES].join(', ')}`, d.state);
  }
  if (typeof d.stage !== 'string') throw invalid('stage', 'a string', d.stage);
  if (!isNonNegativeInt(d.attempt)) throw invalid('attempt', 'a non-negative integer', d.attempt);
  if (d.message !== undefined && typeof d.message !== 'string') throw invalid('message', 'a string', d.message);
  if (!Number.isInteger(d.progress) || (d.progress as number) < 0 || (d.progress as number) > 100) {
    throw invalid('progress', 'an integer from 0 to 100', d.progress);
  }
  if (!isNonNegativeInt(d.updatedAtMs)) throw invalid('updatedAtMs', 'a non-negative integer (ms since epoch)', d.updatedAtMs);
  // Only the known fields travel on: nothing else in the event reaches Redis.
  return {
    taskId: d.taskId,
    state: d.state as TaskStateName,
    stage: d.stage,
    attempt: d.attempt,
    message: d.message ?? '',
    progress: d.progress as number,
    updatedAtMs: d.updatedAtMs,
  };
}
