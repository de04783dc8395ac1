// audit: takes `audit.recorded` (AuditData), emits nothing.
// Side effect: appends one JSON entry per event id to the capped `audit_events` list (newest
// first) with the pushOnce Lua script: a dedupe marker `processed:audit:<event id>` and the
// LPUSH + LTRIM happen atomically, so a redelivered or re-published event is appended once.
// Retried (503 → the source redelivers): Redis unavailable. Malformed data is a ValidationError
// (400): the source dead-letters it.
import { EVENT_TYPES, KEYS, type AuditData } from '../../shared/contract';
import { isTaskmanagerError, ValidationError } from '../../shared/errors';
import type { WireEvent } from '../../shared/events';
import { toUnavailable } from '../../shared/redis';
import type { EventHandler } from '../../shared/runtime/function-app';

/** What `audit_events` holds: the event's data plus its id (to find the event again). */
export type AuditEntry = AuditData & { eventId: string };

export type AuditDeps = {
  /** The pushOnce Lua script (shared/redis.ts): 1 when appended, 0 for a repeat. */
  pushOnce: (marker: string, list: string, entry: string, cap: number, markerTtlSeconds: number) => Promise<number>;
  /** Entries kept in `audit_events` (older ones are trimmed). */
  maxEntries: number;
  /** How long an event id is remembered; longer than a message can stay in the stream. */
  markerTtlSeconds: number;
};

function invalid(field: string, expected: string, value: unknown): ValidationError {
  return new ValidationError(`audit data.${field} must be ${expected}, got ${JSON.stringify(value) ?? 'nothing'}`, {
    field: `data.${field}`,
  });
}

/** The audit record an event carries, or a ValidationError naming the first field that is wrong. */
export function toAuditData(event: Pick<WireEvent, 'data'>): AuditData {
  const data = event.data;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ValidationError('audit event data must be an audit record (a JSON object)', { field: 'data' });
  }
  const d = data as Record<string, unknown>;
  if (typeof d.taskId !== 'string' || d.taskId === '') throw invalid('taskId', 'a non-empty string', d.taskId);
  if (typeof d.stage !== 'string' || d.stage === '') throw invalid('stage', 'a non-empty string', d.stage);
  if (typeof d.action !== 'string' || d.action === '') throw invalid('action', 'a non-empty string', d.action);
  if (!Number.isSafeInteger(d.attempt) || (d.attempt as number) < 0) {
    throw invalid('attempt', 'a non-negative integer', d.attempt);
  }
  if (d.detail !== undefined && typeof d.detail !== 'string') throw invalid('detail', 'a string', d.detail);
  if (!Number.isSafeInteger(d.atMs) || (d.atMs as number) < 0) {
    throw invalid('atMs', 'a non-negative integer (ms since epoch)', d.atMs);
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

export function createHandler(deps: AuditDeps): EventHandler {
  return {
    acceptedTypes: [EVENT_TYPES.auditRecorded],
    acceptsBatches: true,
    async handle(event, ctx) {
      const entry: AuditEntry = { ...toAuditData(event), eventId: event.id };
      let appended: number;
      try {
        appended = await deps.pushOnce(
          KEYS.processed('audit', event.id),
          KEYS.auditEvents,
          JSON.stringify(entry),
          deps.maxEntries,
          deps.markerTtlSeconds,
        );
      } catch (error) {
        if (isTaskmanagerError(error)) throw error;
        throw toUnavailable(error, `appending audit event ${event.id}`);
      }
      ctx.logger.debug({ action: entry.action, appended: appended === 1 }, appended === 1 ? 'audit recorded' : 'audit repeat ignored');
    },
  };
}
