// Walks ListTasks' indexes in Redis (the order and tokens are task-listing.ts): entries newest
// first from a position on, in batches, then the tasks they name read back in one pipeline per
// batch and filtered. A listing reads at most MAX_SCANNED entries per page: a page of a rare
// combination of filters may come back short, with a token to go on from where it stopped.
import { KEYS } from './contract';
import type { Redis } from './redis';
import { guarded } from './redis-stores';
import { toStoredStatus } from './status';
import { isAfter, matches, toPrimaryIndex, type ListCursor, type ListedTask, type TaskListPage, type TaskListQuery } from './task-listing';

const SCAN_BATCH = 200;
const MAX_SCANNED = 5_000;

export type TaskIndex = { list(query: TaskListQuery): Promise<TaskListPage> };

function indexKey(query: TaskListQuery): string {
  const primary = toPrimaryIndex(query);
  if (primary.kind === 'state') return KEYS.tasksByState(query.tenant, primary.state);
  if (primary.kind === 'type') return KEYS.tasksByType(query.tenant, primary.type);
  return KEYS.tasksByTime(query.tenant);
}

function toEntries(raw: string[]): ListCursor[] {
  const entries: ListCursor[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) entries.push({ member: raw[i]!, score: Number(raw[i + 1]) });
  return entries;
}

/** Every entry with exactly this score that comes after `cursor`, newest first (ties by id, descending). */
async function tiesAfter(redis: Redis, key: string, score: number, cursor: ListCursor | undefined): Promise<ListCursor[]> {
  const members = await redis.zrangebyscore(key, score, score);
  return members
    .map((member) => ({ score, member }))
    .filter((entry) => isAfter(entry, cursor))
    .sort((a, b) => (a.member < b.member ? 1 : -1));
}

/** Where a walk starts and what scores it keeps (exclusive bounds). */
export type WalkRange = Pick<TaskListQuery, 'after' | 'createdAfterMs' | 'createdBeforeMs'>;

/** A sorted set's entries after `query.after`, newest first (ties by member, descending), within
 * the score bounds. A batch that ends inside a run of equal scores reads that whole run, so none
 * is cut in two. Any index of ids scored by time walks the same way (tasks, dead letters). */
export async function* walkIndex(redis: Redis, key: string, query: WalkRange): AsyncGenerator<ListCursor[]> {
  const min = query.createdAfterMs !== undefined ? `(${query.createdAfterMs}` : '-inf';
  const before = query.createdBeforeMs;
  const cursor = query.after;
  if (cursor && (query.createdAfterMs === undefined || cursor.score > query.createdAfterMs)) {
    if (before === undefined || cursor.score < before) yield await tiesAfter(redis, key, cursor.score, cursor);
  }
  let max = cursor ? `(${Math.min(cursor.score, before ?? Infinity)}` : before !== undefined ? `(${before}` : '+inf';
  for (;;) {
    const entries = toEntries(await redis.zrevrangebyscore(key, max, min, 'WITHSCORES', 'LIMIT', 0, SCAN_BATCH));
    if (entries.length === 0) return;
    const lastScore = entries.at(-1)!.score;
    const whole = entries.filter((entry) => entry.score !== lastScore);
    yield [...whole, ...(await tiesAfter(redis, key, lastScore, undefined))];
    max = `(${lastScore}`;
  }
}

async function readTasks(redis: Redis, entries: readonly ListCursor[]): Promise<ListedTask[]> {
  const pipeline = redis.pipeline();
  for (const { member } of entries) pipeline.hgetall(KEYS.task(member)).hgetall(KEYS.status(member));
  const replies = (await pipeline.exec()) ?? [];
  return entries.map((entry, index) => {
    const [fieldsError, fields] = replies[index * 2] ?? [];
    const [statusError, status] = replies[index * 2 + 1] ?? [];
    if (fieldsError) throw fieldsError;
    if (statusError) throw statusError;
    return { fields: fields as Record<string, string>, status: toStoredStatus(entry.member, status as Record<string, string>) };
  });
}

async function listTasks(redis: Redis, query: TaskListQuery): Promise<TaskListPage> {
  const tasks: ListedTask[] = [];
  let scanned = 0;
  let last: ListCursor | undefined;
  for await (const batch of walkIndex(redis, indexKey(query), query)) {
    const read = await readTasks(redis, batch);
    for (let i = 0; i < batch.length; i += 1) {
      last = batch[i]!;
      scanned += 1;
      if (matches(read[i]!, query)) tasks.push(read[i]!);
      if (tasks.length === query.pageSize) return { tasks, next: last };
    }
    if (scanned >= MAX_SCANNED) return { tasks, next: last };
  }
  return { tasks, next: undefined };
}

export function createTaskIndex(redis: Redis): TaskIndex {
  return { list: (query) => guarded(() => `listing the tasks of tenant ${query.tenant}`, () => listTasks(redis, query)) };
}
