// The dashboard's JSON API input, checked before anything reaches the gateway: query strings and
// bodies → the client library's typed queries, or a BadRequest that names the field. Pure.
import {
  isPriority,
  PRIORITIES,
  TASK_STATES,
  type ListDeadLettersQuery,
  type ListTasksQuery,
  type ReplayQuery,
  type SubmitInput,
  type TaskState,
} from '../client/types';

/** A request the dashboard refuses itself: 400 (or the status given) with a message naming the field. */
export class BadRequest extends Error {
  override readonly name = 'BadRequest';
  readonly status: number;
  constructor(message: string, status = 400) {
    super(message);
    this.status = status;
  }
}

/** The states a filter may name (every state but UNSPECIFIED). */
export const FILTER_STATES: readonly TaskState[] = TASK_STATES.filter((state) => state !== 'TASK_STATE_UNSPECIFIED');
export const MAX_PAGE_SIZE = 1000;
const MAX_TEXT = 512;
const MAX_REPLAY_IDS = 1000;

/** `authorization: Bearer <key>` → the key; absent → undefined (the gateway decides whether that will do). */
export function readBearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  if (!match) throw new BadRequest('authorization: expected "Bearer <key>"', 401);
  return match[1];
}

function text(params: URLSearchParams, name: string): string | undefined {
  const value = params.get(name)?.trim();
  if (value === undefined || value === '') return undefined;
  if (value.length > MAX_TEXT) throw new BadRequest(`${name}: longer than ${MAX_TEXT} characters`);
  return value;
}

function wholeNumber(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) throw new BadRequest(`${name}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return Number(value);
}

function paging(params: URLSearchParams): { pageSize?: number; pageToken?: string } {
  const pageSize = wholeNumber(text(params, 'pageSize'), 'pageSize', 1, MAX_PAGE_SIZE);
  const pageToken = text(params, 'pageToken');
  return { ...(pageSize !== undefined ? { pageSize } : {}), ...(pageToken !== undefined ? { pageToken } : {}) };
}

/** GET /api/tasks?state=FAILED&state=REJECTED&type=echo&priority=high&pageSize=50&pageToken=… */
export function toListTasksQuery(params: URLSearchParams): ListTasksQuery {
  const states = params.getAll('state').flatMap((value) => value.split(',')).map((value) => value.trim().toUpperCase()).filter(Boolean);
  for (const state of states) {
    if (!(FILTER_STATES as readonly string[]).includes(state)) throw new BadRequest(`state: unknown state ${JSON.stringify(state)} (one of ${FILTER_STATES.join(', ')})`);
  }
  const priority = text(params, 'priority');
  if (priority !== undefined && !isPriority(priority)) throw new BadRequest(`priority: expected one of ${PRIORITIES.join(', ')}, got ${JSON.stringify(priority)}`);
  const type = text(params, 'type');
  const createdAfterMs = wholeNumber(text(params, 'createdAfterMs'), 'createdAfterMs', 0, Number.MAX_SAFE_INTEGER);
  return {
    ...(states.length > 0 ? { states: states as TaskState[] } : {}),
    ...(type !== undefined ? { type } : {}),
    ...(priority !== undefined ? { priority } : {}),
    ...(createdAfterMs !== undefined ? { createdAfterMs } : {}),
    ...paging(params),
  };
}

/** GET /api/dead-letters?type=&stage=&taskId=&pageSize=&pageToken= */
export function toDeadLetterQuery(params: URLSearchParams): ListDeadLettersQuery {
  const filters = deadLetterFilters((name) => text(params, name));
  return { ...filters, ...paging(params) };
}

function deadLetterFilters(read: (name: string) => string | undefined): Pick<ListDeadLettersQuery, 'type' | 'stage' | 'taskId'> {
  const out: Pick<ListDeadLettersQuery, 'type' | 'stage' | 'taskId'> = {};
  for (const name of ['type', 'stage', 'taskId'] as const) {
    const value = read(name);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** ?afterSeq=N of the status stream: absent → the current state first; 0 → the whole history. */
export function toAfterSeq(params: URLSearchParams): number | undefined {
  return wholeNumber(text(params, 'afterSeq'), 'afterSeq', 0, Number.MAX_SAFE_INTEGER);
}

/** A JSON body that must be an object. */
export function toJsonObject(body: Buffer): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new BadRequest(`body: not JSON (${(error as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new BadRequest('body: expected a JSON object');
  return parsed as Record<string, unknown>;
}

function optionalInteger(body: Record<string, unknown>, name: string, min: number, max: number): number | undefined {
  const value = body[name];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new BadRequest(`${name}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** POST /api/tasks {type, payload (JSON text), priority?, maxAttempts?, delayMs?} */
export function toSubmitInput(body: Record<string, unknown>): SubmitInput {
  const { type, payload, priority } = body;
  if (typeof type !== 'string' || type.trim() === '') throw new BadRequest('type: required, a task type name');
  if (payload !== undefined && typeof payload !== 'string') throw new BadRequest('payload: expected JSON text (a string)');
  const payloadText = payload === undefined || payload.trim() === '' ? '{}' : payload;
  try {
    JSON.parse(payloadText);
  } catch (error) {
    throw new BadRequest(`payload: not JSON (${(error as Error).message})`);
  }
  if (priority !== undefined && priority !== '' && !isPriority(priority)) throw new BadRequest(`priority: expected one of ${PRIORITIES.join(', ')}, got ${JSON.stringify(priority)}`);
  const maxAttempts = optionalInteger(body, 'maxAttempts', 0, 5);
  const delayMs = optionalInteger(body, 'delayMs', 0, 30 * 24 * 3_600_000);
  return {
    type: type.trim(),
    payload: payloadText,
    ...(isPriority(priority) ? { priority } : {}),
    ...(maxAttempts !== undefined ? { maxAttempts } : {}),
    ...(delayMs !== undefined ? { delayMs } : {}),
  };
}

/** What POST /api/dead-letters/replay replays: `ids`, or `all` with the list's filters. */
export type ReplayRequest = { kind: 'ids'; query: ReplayQuery } | { kind: 'all'; query: ReplayQuery };

export function toReplayRequest(body: Record<string, unknown>): ReplayRequest {
  const dryRun = body.dryRun === true;
  if (body.all === true) {
    if (body.ids !== undefined) throw new BadRequest('ids: give ids or all, not both');
    const filters = deadLetterFilters((name) => {
      const value = body[name];
      if (value === undefined || value === null || value === '') return undefined;
      if (typeof value !== 'string' || value.length > MAX_TEXT) throw new BadRequest(`${name}: expected a string of at most ${MAX_TEXT} characters`);
      return value.trim() || undefined;
    });
    return { kind: 'all', query: { ...filters, dryRun } };
  }
  if (body.all !== undefined && body.all !== false) throw new BadRequest('all: expected true or false');
  const ids = body.ids;
  if (!Array.isArray(ids) || ids.length === 0) throw new BadRequest('ids: expected a non-empty list of dead-letter ids (or all: true)');
  if (ids.length > MAX_REPLAY_IDS) throw new BadRequest(`ids: at most ${MAX_REPLAY_IDS} at once`);
  if (!ids.every((id) => typeof id === 'string' && id.trim() !== '' && id.length <= MAX_TEXT)) throw new BadRequest('ids: every id must be a non-empty string');
  return { kind: 'ids', query: { ids: ids.map((id: string) => id.trim()), dryRun } };
}
