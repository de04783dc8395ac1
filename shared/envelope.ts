// Reading a task event's data. `isTaskEnvelope` answers yes/no; a stage that refuses an event
// must say *what* is wrong (docs/design.md §5.8), so this names the first bad field.
import type { WireEvent } from './events';
import type { TaskEnvelope } from './contract';
import { isTaskEnvelope } from './emit';
import { ValidationError } from './errors';

/**
 * Task ids end up in Redis keys and, inside event ids, in the Nats-Msg-Id header, where CR or LF
 * make the publish fail (a 5xx the source would retry for ever); the gateway issues UUIDs.
 */
const TASK_ID = /^[\x21-\x7e]{1,256}$/;
/** The largest time a Date can hold: beyond it `new Date(ms).toISOString()` throws. */
const MAX_EPOCH_MS = 8.64e15;

const isEpochMs = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= MAX_EPOCH_MS;
const isStringMap = (v: unknown) =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((value) => typeof value === 'string');

const FIELDS: ReadonlyArray<[keyof TaskEnvelope, string, (value: unknown) => boolean]> = [
  ['taskId', '1..256 printable ASCII characters without spaces', (v) => typeof v === 'string' && TASK_ID.test(v)],
  ['type', 'a string', (v) => typeof v === 'string'],
  ['payload', 'a string (JSON text)', (v) => typeof v === 'string'],
  ['priority', 'one of high, medium, low', (v) => v === 'high' || v === 'medium' || v === 'low'],
  // Strings only: ingest hands metadata to the enricher, whose 400 for anything else is retried.
  ['metadata', 'an object of strings', isStringMap],
  ['maxAttempts', 'a number', (v) => typeof v === 'number'],
  ['createdAtMs', `a time in ms since the epoch (0..${MAX_EPOCH_MS})`, isEpochMs],
  ['notBeforeMs', `a time in ms since the epoch (0..${MAX_EPOCH_MS})`, isEpochMs],
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
