// Reading a `status.changed` event's data: a stage step (StatusStep: the step's transitions and
// its audit record), or a single status update as stages published it before steps existed (an
// event still in the stream across an upgrade). A transition that cannot be applied as sent
// (unknown state, a task id other than the event's subject, progress outside 0..100) is refused
// with a ValidationError naming the field, so it is dead-lettered instead of corrupting the
// status. The audit record is the audit stage's to read (functions/audit/handler.ts).
import { TASK_STATE_NAMES, type StatusTransition, type TaskStateName } from '../../shared/contract';
import { ValidationError } from '../../shared/errors';
import { requireTaskId, type WireEvent } from '../../shared/events';

const STATES: ReadonlySet<string> = new Set(TASK_STATE_NAMES);
/** More than any stage step has (ingest's two): bounds the work of one Redis call. */
export const MAX_TRANSITIONS = 8;

/** What the notifier applies: one step's transitions to one task. */
export type StatusChange = { taskId: string; stage: string; transitions: StatusTransition[] };

function isNonNegativeInt(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function invalid(field: string, expected: string, value: unknown): ValidationError {
  return new ValidationError(`status update data.${field} must be ${expected}, got ${JSON.stringify(value) ?? 'nothing'}`, {
    field: `data.${field}`,
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** One transition (at `where`: `transitions[0].` or the data itself), with only the known fields. */
function toTransition(d: Record<string, unknown>, where: string): StatusTransition {
  if (typeof d.state !== 'string' || !STATES.has(d.state)) {
    throw invalid(`${where}state`, `one of ${[...STATES].join(', ')}`, d.state);
  }
  if (!isNonNegativeInt(d.attempt)) throw invalid(`${where}attempt`, 'a non-negative integer', d.attempt);
  if (d.message !== undefined && typeof d.message !== 'string') throw invalid(`${where}message`, 'a string', d.message);
  if (!Number.isInteger(d.progress) || (d.progress as number) < 0 || (d.progress as number) > 100) {
    throw invalid(`${where}progress`, 'an integer from 0 to 100', d.progress);
  }
  if (!isNonNegativeInt(d.updatedAtMs)) throw invalid(`${where}updatedAtMs`, 'a non-negative integer (ms since epoch)', d.updatedAtMs);
  return { state: d.state as TaskStateName, attempt: d.attempt, message: d.message ?? '', progress: d.progress as number, updatedAtMs: d.updatedAtMs };
}

function toTransitions(d: Record<string, unknown>): StatusTransition[] {
  // A single update (no `transitions`): the format before stage steps.
  if (d.transitions === undefined) return [toTransition(d, '')];
  if (!Array.isArray(d.transitions) || d.transitions.length === 0 || d.transitions.length > MAX_TRANSITIONS) {
    throw invalid('transitions', `a list of 1 to ${MAX_TRANSITIONS} transitions`, d.transitions);
  }
  return d.transitions.map((entry, index) => {
    if (!isObject(entry)) throw invalid(`transitions[${index}]`, 'a JSON object', entry);
    return toTransition(entry, `transitions[${index}].`);
  });
}

/** The change an event carries, or a ValidationError naming the first field that is wrong. */
export function toStatusChange(event: Pick<WireEvent, 'data' | 'subject'>): StatusChange {
  const subject = requireTaskId(event);
  const d = event.data;
  if (!isObject(d)) {
    throw new ValidationError('status event data must be a status step (a JSON object)', { field: 'data' });
  }
  if (typeof d.taskId !== 'string' || d.taskId === '') throw invalid('taskId', 'a non-empty string', d.taskId);
  if (d.taskId !== subject) {
    throw new ValidationError(`status update data.taskId "${d.taskId}" differs from the event subject "${subject}"`, {
      field: 'data.taskId',
    });
  }
  if (typeof d.stage !== 'string') throw invalid('stage', 'a string', d.stage);
  // Only the known fields travel on: nothing else in the event reaches Redis.
  return { taskId: d.taskId, stage: d.stage, transitions: toTransitions(d) };
}
