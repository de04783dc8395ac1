// ListAuditEvents (DESIGN §3): one task's audit trail, oldest first, in pages. Only the task's
// own tenant sees it; for anyone else, and once the task has expired, the task is NOT_FOUND.
import { digestOf, decodePageToken, encodePageToken } from '../shared/task-listing';
import type { AuditRecord, AuditTrail } from '../shared/task-audit';
import { toPageSize } from './list-tasks';
import type { ListAuditEventsRequest, ListAuditEventsResponse, ProtoAuditEvent } from './proto';
import { orThrow, validateTaskId } from './validation';

function trailDigest(taskId: string): string {
  return digestOf(['audit', taskId]);
}

export function toProtoAuditEvent(record: AuditRecord): ProtoAuditEvent {
  return {
    task_id: record.taskId,
    stage: record.stage,
    action: record.action,
    attempt: record.attempt,
    detail: record.detail ?? '',
    at_ms: record.atMs,
  };
}

/** `assertVisible` throws NOT_FOUND for a task the caller may not see (service.ts). */
export async function listAuditEvents(
  trail: AuditTrail,
  assertVisible: (taskId: string) => Promise<void>,
  request: ListAuditEventsRequest,
): Promise<ListAuditEventsResponse> {
  const taskId = orThrow(validateTaskId(request.task_id));
  const pageSize = toPageSize(request.page_size);
  const token = request.page_token ?? '';
  const after = token === '' ? undefined : decodePageToken(token, trailDigest(taskId));
  await assertVisible(taskId);
  const page = await trail.read(taskId, pageSize, after);
  return {
    events: page.records.map(toProtoAuditEvent),
    next_page_token: page.next ? encodePageToken(page.next, trailDigest(taskId)) : '',
  };
}
