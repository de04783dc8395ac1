// ListTasks (DESIGN §3): a tenant's tasks, newest first, filtered by state, type, priority and
// creation time, in pages. The pure parts live here: which index a listing walks, what a page
// token holds, and the order of index entries; shared/redis-stores.ts walks the indexes.
//
// Order and paging. Every index is a sorted set of task ids scored by creation time (ms); ties
// (several tasks in one millisecond) are ordered by id, descending, as Redis returns equal
// scores in reverse. A page token is the position of the last task a page showed (its score and
// id), so the next page starts right after it: a task is never shown twice or skipped between
// pages of a set that does not change, and tasks created meanwhile (newer, so before the
// position) do not push older ones onto the next page. The token also holds a digest of the
// filters, so a token is only taken back by the listing that made it.
import { createHash } from 'node:crypto';
import type { Priority, StoredStatus, TaskStateName } from './contract';
import { ValidationError } from './errors';
import { DEFAULT_TENANT } from './task-record';

/** Where a listing is: the last entry shown (score = creation ms, member = task id). */
export type ListCursor = { score: number; member: string };

export type TaskListQuery = {
  tenant: string;
  /** Any of these states (empty: every state). */
  states: readonly TaskStateName[];
  type?: string | undefined;
  priority?: Priority | undefined;
  /** Created strictly after / before (ms). */
  createdAfterMs?: number | undefined;
  createdBeforeMs?: number | undefined;
  pageSize: number;
  /** Continue after this position (from the previous page's token). */
  after?: ListCursor | undefined;
};

/** One listed task: its stored fields and its current status. */
export type ListedTask = { fields: Record<string, string>; status: StoredStatus | undefined };

export type TaskListPage = { tasks: ListedTask[]; next: ListCursor | undefined };

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 1000;

/** The index a listing walks: one state's when it asks for one state, the type's when it names
 * a type, else all the tenant's tasks; the other filters are checked on each entry. */
export function toPrimaryIndex(query: Pick<TaskListQuery, 'states' | 'type'>): { kind: 'state'; state: TaskStateName } | { kind: 'type'; type: string } | { kind: 'all' } {
  if (query.states.length === 1) return { kind: 'state', state: query.states[0]! };
  if (query.type !== undefined) return { kind: 'type', type: query.type };
  return { kind: 'all' };
}

/** Whether an index entry comes after the cursor in listing order (newest first, ties by id descending). */
export function isAfter(entry: ListCursor, cursor: ListCursor | undefined): boolean {
  if (!cursor) return true;
  return entry.score < cursor.score || (entry.score === cursor.score && entry.member < cursor.member);
}

/** Whether a task read back matches the filters its index did not apply. */
export function matches(task: ListedTask, query: TaskListQuery): boolean {
  const { fields, status } = task;
  if (!fields.task_id) return false;
  if ((fields.tenant ?? DEFAULT_TENANT) !== query.tenant) return false;
  if (query.type !== undefined && fields.type !== query.type) return false;
  if (query.priority !== undefined && fields.priority !== query.priority) return false;
  if (query.states.length > 0 && (!status || !query.states.includes(status.state))) return false;
  return true;
}

/** A short digest of what a listing filters on: a token carries it to be taken back only by
 * the same listing. */
export function filterDigest(query: Omit<TaskListQuery, 'pageSize' | 'after'>): string {
  return digestOf([query.tenant, [...query.states].sort(), query.type ?? '', query.priority ?? '', query.createdAfterMs ?? '', query.createdBeforeMs ?? '']);
}

/** A short digest of a listing's filters (any listing: tasks, dead letters). */
export function digestOf(filters: readonly unknown[]): string {
  return createHash('sha256').update(JSON.stringify(filters)).digest('base64url').slice(0, 12);
}

/** The opaque token of a position in a listing. */
export function encodePageToken(cursor: ListCursor, digest: string): string {
  return Buffer.from(JSON.stringify({ s: cursor.score, m: cursor.member, f: digest })).toString('base64url');
}

/** The position a token holds, or a ValidationError naming page_token when it is not one of
 * this listing's tokens. */
export function decodePageToken(token: string, digest: string): ListCursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const value = parsed as { s?: unknown; m?: unknown; f?: unknown } | undefined;
  if (!value || typeof value.s !== 'number' || !Number.isFinite(value.s) || typeof value.m !== 'string' || value.m === '') {
    throw new ValidationError('page_token: is not a page token (pass next_page_token as it came)', { field: 'page_token' });
  }
  if (value.f !== digest) {
    throw new ValidationError('page_token: belongs to a listing with other filters (keep the filters while paging)', { field: 'page_token' });
  }
  return { score: value.s, member: value.m };
}
