// ListDeadLetters (DESIGN §3): the request checked field by field, the caller's dead letters
// newest first in pages (shared/dead-letters.ts), and how many the per-tenant cap has dropped.
import { deadLetterDigest, type DeadLetterIndex, type DeadLetterQuery, type DeadLetterRecord } from '../shared/dead-letters';
import { decodePageToken, encodePageToken } from '../shared/task-listing';
import { toPageSize, toTime } from './list-tasks';
import { checkType, invalid, orThrow, validateTaskId } from './validation';
import type { ListDeadLettersRequest, ListDeadLettersResponse, ProtoDeadLetter } from './proto';

/** Letters, digits, '_' and '-', as the stages' names are. */
const STAGE_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

/** The listing a request asks for, or a ValidationError naming the first bad field. */
export function toDeadLetterQuery(request: ListDeadLettersRequest, tenant: string): DeadLetterQuery {
  const taskId = request.task_id || undefined;
  if (taskId !== undefined) orThrow(validateTaskId(taskId));
  const type = request.type || undefined;
  const typeError = type === undefined ? undefined : checkType(type);
  if (typeError) throw typeError;
  const stage = request.stage || undefined;
  if (stage !== undefined && !STAGE_PATTERN.test(stage)) throw invalid('stage', `may contain only letters, digits, '_' and '-', got ${JSON.stringify(stage)}`);
  const query: DeadLetterQuery = {
    tenant,
    taskId,
    type,
    stage,
    afterMs: toTime('after_ms', request.after_ms),
    beforeMs: toTime('before_ms', request.before_ms),
    pageSize: toPageSize(request.page_size),
  };
  const token = request.page_token ?? '';
  return token === '' ? query : { ...query, after: decodePageToken(token, deadLetterDigest(query)) };
}

export function toProtoDeadLetter(record: DeadLetterRecord): ProtoDeadLetter {
  return {
    id: record.id,
    task_id: record.taskId,
    type: record.type,
    stage: record.stage,
    reason: record.reason,
    attempts: record.attempts,
    last_error: record.lastError,
    dead_lettered_at_ms: record.atMs,
    replayed_as: record.replayedAs,
    event: record.event,
  };
}

export async function listDeadLetters(index: DeadLetterIndex, request: ListDeadLettersRequest, tenant: string): Promise<ListDeadLettersResponse> {
  const query = toDeadLetterQuery(request, tenant);
  const page = await index.list(query);
  return {
    dead_letters: page.deadLetters.map(toProtoDeadLetter),
    next_page_token: page.next ? encodePageToken(page.next, deadLetterDigest(query)) : '',
    dropped: page.dropped,
  };
}
