// Reading a task event's data. `isTaskEnvelope` answers yes/no; a stage that refuses an event
// must say *what* is wrong (DESIGN §5.8), so this names the first bad field.
import type { WireEvent } from './events';
import type { TaskEnvelope } from './contract';
import { isTaskEnvelope } from './emit';
import { ValidationError } from './errors';

const FIELDS: ReadonlyArray<[keyof TaskEnvelope, string, (value: unknown) => boolean]> = [
  ['taskId', 'a non-empty string', (v) => typeof v === 'string' && v !== ''],
  ['type', 'a string', (v) => typeof v === 'string'],
  ['payload', 'a string (JSON text)', (v) => typeof v === 'string'],
  ['priority', 'one of high, medium, low', (v) => v === 'high' || v === 'medium' || v === 'low'],
  ['metadata', 'an object', (v) => v !== null && typeof v === 'object' && !Array.isArray(v)],
  ['maxAttempts', 'a number', (v) => typeof v === 'number'],
  ['createdAtMs', 'a number', (v) => typeof v === 'number'],
  ['notBeforeMs', 'a number', (v) => typeof v === 'number'],
  ['tenant', 'a string', (v) => typeof v === 'string'],
];

/** The envelope of a task event, or a ValidationError naming the first field that is wrong. */
export function toTaskEnvelope(event: Pick<WireEvent, 'data' | 'subject'>): TaskEnvelope {
  const data = event.data;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ValidationError('event data must be a task envelope (a JSON object)', { field: 'data' });
  }
  const record = data as Record<string, unknown>;
  for (const [field, expected, check] of FIELDS) {
    if (!check(record[field])) {
      throw new ValidationError(`event data.${field} must be ${expected}`, { field: `data.${field}` });
    }
  }
  if (!isTaskEnvelope(data)) throw new ValidationError('event data is not a task envelope', { field: 'data' });
  if (event.subject !== undefined && event.subject !== data.taskId) {
    throw new ValidationError(
      `CloudEvent subject "${event.subject}" does not match data.taskId "${data.taskId}"`,
      { field: 'subject' },
    );
  }
  return data;
}
