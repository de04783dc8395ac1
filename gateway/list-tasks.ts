// ListTasks (DESIGN §3): the request checked field by field (the message names the field, like
// every INVALID_ARGUMENT of the gateway), the listing asked of the task index, each task shown as
// GetTask shows it, without its history. Scoped to the caller's tenant by construction: the
// index walked is the tenant's, and each task read back is checked to be the tenant's again.
import { TASK_STATE_NAMES, type Priority, type TaskStateName } from '../shared/contract';
import {
  DEFAULT_PAGE_SIZE,
  MAX_PAGE_SIZE,
  decodePageToken,
  encodePageToken,
  filterDigest,
  type TaskListQuery,
} from '../shared/task-listing';
import type { TaskIndex } from '../shared/task-index';
import type { ListTasksRequest, ListTasksResponse } from './proto';
import { checkType, invalid } from './validation';
import { toProtoTask } from './to-proto';

const FROM_PROTO_PRIORITY: Record<string, Priority | undefined> = { PRIORITY_LOW: 'low', PRIORITY_MEDIUM: 'medium', PRIORITY_HIGH: 'high' };

function toStates(states: unknown): TaskStateName[] {
  const list = Array.isArray(states) ? states : [];
  const unknown = list.filter((state) => !(TASK_STATE_NAMES as readonly unknown[]).includes(state));
  if (unknown.length > 0) throw invalid('states', `unknown state(s) ${unknown.map(String).join(', ')} (known: ${TASK_STATE_NAMES.join(', ')})`);
  return [...new Set(list as TaskStateName[])];
}

export function toTime(field: string, value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = Number(value);
  if (!Number.isSafeInteger(ms) || ms < 0) throw invalid(field, `must be a time in epoch ms, got ${String(value)}`);
  return ms;
}

export function toPageSize(value: unknown): number {
  const size = value === undefined || value === null ? 0 : Number(value);
  if (size === 0) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) throw invalid('page_size', `must be 0 (the default, ${DEFAULT_PAGE_SIZE}) or 1..${MAX_PAGE_SIZE}, got ${String(value)}`);
  return size;
}

/** The listing a request asks for, or a ValidationError naming the first bad field. */
export function toListQuery(request: ListTasksRequest, tenant: string): TaskListQuery {
  const states = toStates(request.states);
  const type = request.type ? request.type : undefined;
  const typeError = type === undefined ? undefined : checkType(type);
  if (typeError) throw typeError;
  const priority = request.priority === undefined || request.priority === 'PRIORITY_UNSPECIFIED' ? undefined : FROM_PROTO_PRIORITY[request.priority];
  if (request.priority !== undefined && request.priority !== 'PRIORITY_UNSPECIFIED' && priority === undefined) {
    throw invalid('priority', `unknown priority ${String(request.priority)}`);
  }
  const createdAfterMs = toTime('created_after_ms', request.created_after_ms);
  const createdBeforeMs = toTime('created_before_ms', request.created_before_ms);
  const pageSize = toPageSize(request.page_size);
  const query: TaskListQuery = { tenant, states, type, priority, createdAfterMs, createdBeforeMs, pageSize };
  const token = request.page_token ?? '';
  return token === '' ? query : { ...query, after: decodePageToken(token, filterDigest(query)) };
}

export async function listTasks(index: TaskIndex, request: ListTasksRequest, tenant: string): Promise<ListTasksResponse> {
  const query = toListQuery(request, tenant);
  const page = await index.list(query);
  return {
    tasks: page.tasks.map((task) => toProtoTask(task.fields, task.status, [])),
    next_page_token: page.next ? encodePageToken(page.next, filterDigest(query)) : '',
  };
}
