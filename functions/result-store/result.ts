// The shape of a stored result and the check of a `finished` event's data. The stored JSON is
// exactly what GET /results/:id answers and what the gateway's GetResult maps to TaskResult.
import type { FinishedData, TaskOutcome } from '../../shared/contract';
import { toTaskEnvelope } from '../../shared/envelope';
import { ValidationError } from '../../shared/errors';
import type { WireEvent } from '../../shared/events';

/** A `finished` event's data with the task reduced to its id; `output` is JSON text ('' when
 * the task did not succeed). */
export type StoredResult = { taskId: string } & Omit<FinishedData, 'task'>;

const OUTCOMES: readonly TaskOutcome[] = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

const FIELDS: ReadonlyArray<[keyof FinishedData, string, (value: unknown) => boolean]> = [
  ['state', `one of ${OUTCOMES.join(', ')}`, (v) => OUTCOMES.includes(v as TaskOutcome)],
  ['output', 'a string (JSON text)', (v) => typeof v === 'string'],
  ['error', 'a string', (v) => typeof v === 'string'],
  ['attempts', 'a positive integer', (v) => typeof v === 'number' && Number.isInteger(v) && v > 0],
  ['startedAtMs', 'a number', (v) => typeof v === 'number' && Number.isFinite(v)],
  ['finishedAtMs', 'a number', (v) => typeof v === 'number' && Number.isFinite(v)],
];

/** The data of a `finished` event, or a ValidationError naming the first field that is wrong. */
export function toFinishedData(event: Pick<WireEvent, 'data' | 'subject'>): FinishedData {
  const data = event.data;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ValidationError('event data must be a finished task (a JSON object)', { field: 'data' });
  }
  const record = data as Record<string, unknown>;
  try {
    toTaskEnvelope({ data: record.task, subject: event.subject });
  } catch (error) {
    const cause = error as ValidationError;
    const field = cause.field === 'subject' ? 'subject' : `data.task${(cause.field ?? 'data').slice('data'.length)}`;
    throw new ValidationError(`event data.task is not a task envelope: ${cause.message}`, { field, cause });
  }
  for (const [field, expected, check] of FIELDS) {
    if (!check(record[field])) {
      throw new ValidationError(`event data.${field} must be ${expected}`, { field: `data.${field}` });
    }
  }
  return data as FinishedData;
}

export function toStoredResult(data: FinishedData): StoredResult {
  return {
    taskId: data.task.taskId,
    state: data.state,
    output: data.output,
    error: data.error,
    attempts: data.attempts,
    startedAtMs: data.startedAtMs,
    finishedAtMs: data.finishedAtMs,
  };
}
