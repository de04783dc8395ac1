// Audit records (DESIGN §3, ListAuditEvents): the audit stage appends each record once to the
// capped global `audit_events` list and to its task's trail `task_audit:<id>`, a sorted set by
// record time that expires with its task (APPEND_AUDIT_LUA, shared/redis.ts). The gateway reads
// a trail oldest first in pages; the cursor is the last record's (time, id), so a page boundary
// stays put while records are still arriving.
import { KEYS, type AuditData } from './contract';
import type { AuditLog } from './ports';
import type { Redis } from './redis';
import { guarded } from './redis-stores';
import type { ListCursor } from './task-listing';

/** A task's trail keeps this many records (the newest); a task makes a few per attempt. */
export const MAX_TRAIL_RECORDS = 1_000;

export type AuditLogOptions = {
  /** Records the global list keeps (older ones trimmed); at least 1. */
  cap: number;
  /** How long a record id is remembered; longer than an event can stay in its stream. */
  markerTtlSeconds: number;
  /** How long the trail of a task that is already gone is kept (TM_RETENTION_SECONDS). */
  retentionSeconds: number;
};

export function createAuditLog(redis: Redis, options: AuditLogOptions): AuditLog {
  return {
    appendOnce: (id, entry) =>
      guarded(
        () => `appending audit record ${id}`,
        async () =>
          (await redis.appendAudit(
            KEYS.processed('audit', id),
            KEYS.auditEvents,
            KEYS.taskAudit(entry.taskId),
            KEYS.task(entry.taskId),
            JSON.stringify({ ...entry, eventId: id }),
            options.cap,
            options.markerTtlSeconds,
            id,
            entry.atMs,
            options.retentionSeconds,
            MAX_TRAIL_RECORDS,
          )) === 1,
      ),
  };
}

export type AuditRecord = AuditData & { eventId: string };

export type AuditTrailPage = { records: AuditRecord[]; next: ListCursor | undefined };

const SCAN_BATCH = 200;

/** Whether a trail member comes after the cursor in the set's order (time, then member text). */
function isPast(score: number, eventId: string, cursor: ListCursor | undefined): boolean {
  return cursor === undefined || score > cursor.score || (score === cursor.score && eventId > cursor.member);
}

async function readTrail(redis: Redis, taskId: string, pageSize: number, after: ListCursor | undefined): Promise<AuditTrailPage> {
  const records: AuditRecord[] = [];
  const min = after === undefined ? '-inf' : String(after.score);
  for (let offset = 0; ; offset += SCAN_BATCH) {
    const flat = await redis.zrangebyscore(KEYS.taskAudit(taskId), min, '+inf', 'WITHSCORES', 'LIMIT', offset, SCAN_BATCH);
    for (let i = 0; i < flat.length; i += 2) {
      const member = flat[i]!;
      const score = Number(flat[i + 1]);
      const tab = member.indexOf('\t');
      const eventId = member.slice(0, tab);
      if (!isPast(score, eventId, after)) continue;
      records.push(JSON.parse(member.slice(tab + 1)) as AuditRecord);
      if (records.length === pageSize) return { records, next: { score, member: eventId } };
    }
    if (flat.length < SCAN_BATCH * 2) return { records, next: undefined };
  }
}

export type AuditTrail = { read(taskId: string, pageSize: number, after?: ListCursor): Promise<AuditTrailPage> };

export function createAuditTrail(redis: Redis): AuditTrail {
  return { read: (taskId, pageSize, after) => guarded(() => `reading the audit trail of ${taskId}`, () => readTrail(redis, taskId, pageSize, after)) };
}
