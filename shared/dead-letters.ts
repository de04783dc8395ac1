// Dead letters per tenant (DESIGN §3, ListDeadLetters): the deadletter stage stores each one once,
// under its task's tenant, with the task's type (STORE_DEAD_LETTER_LUA, shared/redis.ts), and the
// gateway lists them newest first in pages, as ListTasks does its tasks (the same walk, the same
// tokens: task-index.ts, task-listing.ts). Each tenant's are capped (TM_DEADLETTER_CAP); what the
// cap drops is counted, never silent.
import type { EnvReader } from './config';
import { KEYS } from './contract';
import type { DeadLetterStore } from './ports';
import { toChannel, type Redis } from './redis';
import { guarded } from './redis-stores';
import { DEFAULT_TENANT } from './task-record';
import { walkIndex } from './task-index';
import { digestOf, type ListCursor } from './task-listing';

/** TM_DEADLETTER_CAP: what the deadletter stage applies and GetQueueStats shows, read alike. */
export function readDeadLetterCap(reader: EnvReader): number {
  return reader.int('TM_DEADLETTER_CAP', 100_000, { min: 1, max: 100_000_000 });
}

export type DeadLetterQuery = {
  tenant: string;
  taskId?: string | undefined;
  type?: string | undefined;
  stage?: string | undefined;
  /** Dead-lettered strictly after / before (ms). */
  afterMs?: number | undefined;
  beforeMs?: number | undefined;
  pageSize: number;
  after?: ListCursor | undefined;
};

/** A stored dead letter, as ListDeadLetters shows it. */
export type DeadLetterRecord = {
  id: string;
  taskId: string;
  tenant: string;
  type: string;
  stage: string;
  reason: string;
  attempts: number;
  lastError: string;
  atMs: number;
  /** The task its replay made ('' until replayed). */
  replayedAs: string;
  /** The event that could not be processed, as JSON text. */
  event: string;
};

export type DeadLetterPage = { deadLetters: DeadLetterRecord[]; next: ListCursor | undefined; dropped: number };

const MAX_SCANNED = 5_000;

export function deadLetterDigest(query: Omit<DeadLetterQuery, 'pageSize' | 'after'>): string {
  return digestOf(['dead-letters', query.tenant, query.taskId ?? '', query.type ?? '', query.stage ?? '', query.afterMs ?? '', query.beforeMs ?? '']);
}

export function toDeadLetterRecord(id: string, fields: Record<string, string>): DeadLetterRecord | undefined {
  if (!fields.stage) return undefined;
  return {
    id,
    taskId: fields.task_id ?? '',
    tenant: fields.tenant ?? DEFAULT_TENANT,
    type: fields.type ?? '',
    stage: fields.stage,
    reason: fields.reason ?? '',
    attempts: Number(fields.attempts ?? 0),
    lastError: fields.last_error ?? '',
    atMs: Number(fields.at_ms ?? 0),
    replayedAs: fields.replayed_as ?? '',
    event: fields.event ?? 'null',
  };
}

/** Whether a record matches the filters its index does not apply (the index is the tenant's). */
export function matchesDeadLetter(record: DeadLetterRecord, query: DeadLetterQuery): boolean {
  if (record.tenant !== query.tenant) return false;
  if (query.taskId !== undefined && record.taskId !== query.taskId) return false;
  if (query.type !== undefined && record.type !== query.type) return false;
  return query.stage === undefined || record.stage === query.stage;
}

/** cap: per tenant (TM_DEADLETTER_CAP); listCap: the global `dead_letter` list (TM_DEADLETTER_LIST_MAX). */
export function createDeadLetterStore(redis: Redis, options: { markerTtlSeconds: number; cap: number; listCap: number }): DeadLetterStore {
  return {
    store: (id, letter) =>
      guarded(
        () => `storing dead letter ${id}`,
        async () => {
          const fields = ['id', id, 'task_id', letter.taskId, 'stage', letter.stage, 'reason', letter.reason, 'attempts', letter.attempts];
          fields.push('last_error', letter.lastError, 'at_ms', letter.atMs, 'replayed_as', '', 'event', JSON.stringify(letter.event ?? null));
          const stored = await redis.storeDeadLetter(
            KEYS.deadLetterSeen(id),
            KEYS.deadLetter,
            KEYS.task(letter.taskId),
            KEYS.deadLetterRecord(id),
            JSON.stringify({ ...letter, eventId: id }),
            options.markerTtlSeconds,
            id,
            letter.atMs,
            options.cap,
            toChannel(redis, KEYS.deadLettersBase),
            toChannel(redis, KEYS.deadLettersDroppedBase),
            toChannel(redis, KEYS.deadLetterRecordBase),
            options.listCap,
            ...fields,
          );
          return stored === 1;
        },
      ),
  };
}

async function listDeadLetters(redis: Redis, query: DeadLetterQuery): Promise<DeadLetterPage> {
  const deadLetters: DeadLetterRecord[] = [];
  const dropped = Number((await redis.get(KEYS.deadLettersDropped(query.tenant))) ?? 0);
  let scanned = 0;
  let last: ListCursor | undefined;
  const range = { after: query.after, createdAfterMs: query.afterMs, createdBeforeMs: query.beforeMs };
  for await (const batch of walkIndex(redis, KEYS.deadLetters(query.tenant), range)) {
    const pipeline = redis.pipeline();
    for (const entry of batch) pipeline.hgetall(KEYS.deadLetterRecord(entry.member));
    const replies = (await pipeline.exec()) ?? [];
    for (let i = 0; i < batch.length; i += 1) {
      last = batch[i]!;
      scanned += 1;
      const [error, fields] = replies[i] ?? [];
      if (error) throw error;
      const record = toDeadLetterRecord(last.member, fields as Record<string, string>);
      if (record && matchesDeadLetter(record, query)) deadLetters.push(record);
      if (deadLetters.length === query.pageSize) return { deadLetters, next: last, dropped };
    }
    if (scanned >= MAX_SCANNED) return { deadLetters, next: last, dropped };
  }
  return { deadLetters, next: undefined, dropped };
}

export type DeadLetterIndex = {
  list(query: DeadLetterQuery): Promise<DeadLetterPage>;
  /** The tenant's dead letters among `ids`, in their order; another tenant's read as missing. */
  read(tenant: string, ids: readonly string[]): Promise<(DeadLetterRecord | undefined)[]>;
  /** Remembers the task a replay made; answers the task that stands ('' when the record is gone). */
  markReplayed(id: string, taskId: string): Promise<string>;
};

async function readDeadLetters(redis: Redis, tenant: string, ids: readonly string[]): Promise<(DeadLetterRecord | undefined)[]> {
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.hgetall(KEYS.deadLetterRecord(id));
  const replies = (await pipeline.exec()) ?? [];
  return ids.map((id, i) => {
    const [error, fields] = replies[i] ?? [];
    if (error) throw error;
    const record = toDeadLetterRecord(id, fields as Record<string, string>);
    return record?.tenant === tenant ? record : undefined;
  });
}

export function createDeadLetterIndex(redis: Redis): DeadLetterIndex {
  return {
    list: (query) => guarded(() => `listing the dead letters of tenant ${query.tenant}`, () => listDeadLetters(redis, query)),
    read: (tenant, ids) => guarded(() => `reading ${ids.length} dead letter(s)`, () => readDeadLetters(redis, tenant, ids)),
    markReplayed: (id, taskId) => guarded(() => `marking dead letter ${id} replayed`, () => redis.markReplayed(KEYS.deadLetterRecord(id), taskId)),
  };
}
