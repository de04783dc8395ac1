// audit: takes `audit.recorded` (AuditData) and `status.changed` (a stage step, whose `audit` is
// the step's record; a step without one, a progress report, is acked), emits nothing.
// Side effect: appends one JSON entry per record id to the capped `audit_events` list (newest
// first) and to the task's trail (ListAuditEvents) in one script that takes each id once
// (shared/task-audit.ts), so a
// redelivered or re-published event is appended once. A record's id is the id its own
// `audit.recorded` event would have (`<task>:audit:<stage>:<action>:<attempt>`, EVENT_IDS.audit),
// whichever event carried it.
// Retried (503 → the source redelivers): Redis unavailable. A malformed record is a
// ValidationError (400): the source dead-letters it.
import { EVENT_TYPES, type AuditData } from '../../shared/contract';
import { EVENT_IDS } from '../../shared/emit';
import { ValidationError } from '../../shared/errors';
import { requireTaskId, type WireEvent } from '../../shared/events';
import type { AuditLog } from '../../shared/ports';
import type { EventHandler } from '../../shared/runtime/function-app';

/** What `audit_events` holds: the record plus its id (to find the event again). */
export type AuditEntry = AuditData & { eventId: string };

export type AuditDeps = {
  /** `audit_events`, capped (TM_AUDIT_MAX), and the task's trail; each record id once. */
  log: AuditLog;
};

function invalid(field: string, expected: string, value: unknown): ValidationError {
  return new ValidationError(`audit ${field} must be ${expected}, got ${JSON.stringify(value) ?? 'nothing'}`, { field });
}

/** The audit record in `value` (at `where`: `data` or `data.audit`), or a ValidationError naming
 * the first field that is wrong. */
export function toAuditData(value: unknown, where = 'data'): AuditData {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError(`audit event ${where} must be an audit record (a JSON object)`, { field: where });
  }
  const d = value as Record<string, unknown>;
  if (typeof d.taskId !== 'string' || d.taskId === '') throw invalid(`${where}.taskId`, 'a non-empty string', d.taskId);
  if (typeof d.stage !== 'string' || d.stage === '') throw invalid(`${where}.stage`, 'a non-empty string', d.stage);
  if (typeof d.action !== 'string' || d.action === '') throw invalid(`${where}.action`, 'a non-empty string', d.action);
  if (!Number.isSafeInteger(d.attempt) || (d.attempt as number) < 0) {
    throw invalid(`${where}.attempt`, 'a non-negative integer', d.attempt);
  }
  if (d.detail !== undefined && typeof d.detail !== 'string') throw invalid(`${where}.detail`, 'a string', d.detail);
  if (!Number.isSafeInteger(d.atMs) || (d.atMs as number) < 0) {
    throw invalid(`${where}.atMs`, 'a non-negative integer (ms since epoch)', d.atMs);
  }
  return {
    taskId: d.taskId,
    stage: d.stage,
    action: d.action,
    attempt: d.attempt as number,
    detail: d.detail ?? '',
    atMs: d.atMs as number,
  };
}

/** The record an event carries, with its id; undefined for a status step without one. */
export function toAuditEntry(event: WireEvent): AuditEntry | undefined {
  if (event.type === EVENT_TYPES.auditRecorded) return { ...toAuditData(event.data), eventId: event.id };
  const data = event.data as { audit?: unknown } | null | undefined;
  if (data === null || typeof data !== 'object' || data.audit === undefined) return undefined;
  const record = toAuditData(data.audit, 'data.audit');
  const taskId = requireTaskId(event);
  if (record.taskId !== taskId) {
    throw new ValidationError(`audit data.audit.taskId "${record.taskId}" differs from the event subject "${taskId}"`, { field: 'data.audit.taskId' });
  }
  return { ...record, eventId: EVENT_IDS.audit(record.taskId, record.stage, record.action, record.attempt) };
}

export function createHandler(deps: AuditDeps): EventHandler {
  return {
    acceptedTypes: [EVENT_TYPES.auditRecorded, EVENT_TYPES.statusChanged],
    acceptsBatches: true,
    async handle(event, ctx) {
      const entry = toAuditEntry(event);
      if (!entry) return;
      const appended = await deps.log.appendOnce(entry.eventId, entry);
      ctx.logger.debug({ action: entry.action, appended }, appended ? 'audit recorded' : 'audit repeat ignored');
    },
  };
}
