// The ListTasks indexes (docs/design.md §4: per tenant, all tasks, those of one type, those in one
// state) and the active-task index, checked against each task's current status after a fault.
// Returns the violations (empty = all hold), each line starting with the task id or index:
// - a task is in exactly one of its tenant's state indexes, the one of the state its
//   `task_status:<id>` holds, scored by its creation time (ListTasks' order);
// - it is in its tenant's `all` index and in its type's index, and no tenant's index holds a
//   task of another tenant or one the scenario does not know;
// - the active-task index holds no terminal task, and every task that is not terminal;
// - a terminal task has one entry in the expiring index, naming its tenant, type and current
//   state: the retention sweep takes it out of the state index that entry names.
import type { Redis } from '../../shared/redis';
import { isTerminal, KEYS } from '../../shared/contract';
import { keysMatching } from '../helpers/redis-keys';
import { readStates } from './workload';

/** A task as the scenario submitted it. */
export type IndexedTask = { taskId: string; tenant: string; type: string };

export type IndexEntry = { member: string; score: number };

/** What the checker reads from Redis. */
export type ObservedIndexes = {
  /** Each scenario task's current state (undefined: no status) and creation time (ms). */
  tasks: ReadonlyMap<string, { state: string | undefined; createdAtMs: number }>;
  /** Every ListTasks index of the scenario's tenants, by key name (relative to the prefix). */
  indexes: ReadonlyMap<string, readonly IndexEntry[]>;
  /** The active-task index's members, each with its current state. */
  active: ReadonlyMap<string, string | undefined>;
  /** The expiring index's members (`<tenant>\t<type>\t<state>\t<id>`). */
  expiring: readonly string[];
};

function toEntries(raw: readonly string[]): IndexEntry[] {
  const entries: IndexEntry[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) entries.push({ member: raw[i]!, score: Number(raw[i + 1]) });
  return entries;
}

export async function readIndexes(redis: Redis, tasks: readonly IndexedTask[]): Promise<ObservedIndexes> {
  const ids = tasks.map((task) => task.taskId);
  const states = await readStates(redis, ids);
  const created = await redis.pipeline(ids.map((id) => ['hget', KEYS.task(id), 'created_at_ms'])).exec();
  const observedTasks = new Map(ids.map((id, i) => [id, { state: states[i], createdAtMs: Number(created?.[i]?.[1] ?? NaN) }]));

  const indexes = new Map<string, IndexEntry[]>();
  for (const tenant of new Set(tasks.map((task) => task.tenant))) {
    const keys = [
      ...(await keysMatching(redis, KEYS.tasksByTime(tenant))),
      ...(await keysMatching(redis, KEYS.tasksByType(tenant, '*'))),
      ...(await keysMatching(redis, KEYS.tasksByState(tenant, '*'))),
    ];
    for (const key of keys) indexes.set(key, toEntries(await redis.zrange(key, 0, -1, 'WITHSCORES')));
  }

  const activeIds = await redis.zrange(KEYS.activeTasks, 0, -1);
  const activeStates = await readStates(redis, activeIds);
  const active = new Map(activeIds.map((id, i) => [id, activeStates[i]]));
  return { tasks: observedTasks, indexes, active, expiring: await redis.zrange(KEYS.tasksExpiring, 0, -1) };
}

/** The index entries of `key`, checked to belong to `tenant`'s tasks; the foreign ones reported. */
function ownEntries(observed: ObservedIndexes, key: string, owner: ReadonlyMap<string, IndexedTask>, tenant: string, violations: string[]): IndexEntry[] {
  const entries = observed.indexes.get(key) ?? [];
  for (const { member } of entries) {
    const task = owner.get(member);
    if (!task) violations.push(`${key}: holds ${member}, not a task of this scenario`);
    else if (task.tenant !== tenant) violations.push(`${member}: of tenant ${task.tenant}, but in ${key}`);
  }
  return entries.filter(({ member }) => owner.get(member)?.tenant === tenant);
}

/** The violations of the header's rules (pure). */
export function toIndexViolations(observed: ObservedIndexes, tasks: readonly IndexedTask[]): string[] {
  const violations: string[] = [];
  const byId = new Map(tasks.map((task) => [task.taskId, task]));
  const listedUnder = new Map<string, string[]>();
  const inIndex = (key: string) => new Set((observed.indexes.get(key) ?? []).map((entry) => entry.member));

  for (const tenant of new Set(tasks.map((task) => task.tenant))) {
    const stateBase = KEYS.tasksByState(tenant, '');
    for (const key of observed.indexes.keys()) {
      if (!key.startsWith(stateBase)) continue;
      const state = key.slice(stateBase.length);
      for (const { member, score } of ownEntries(observed, key, byId, tenant, violations)) {
        listedUnder.set(member, [...(listedUnder.get(member) ?? []), state]);
        const createdAtMs = observed.tasks.get(member)?.createdAtMs;
        if (score !== createdAtMs) violations.push(`${member}: scored ${score} in ${key}, created at ${createdAtMs}`);
      }
    }
    ownEntries(observed, KEYS.tasksByTime(tenant), byId, tenant, violations);
    const typeBase = KEYS.tasksByType(tenant, '');
    for (const key of observed.indexes.keys()) if (key.startsWith(typeBase)) ownEntries(observed, key, byId, tenant, violations);
  }

  const expiring = new Map<string, string[]>();
  for (const member of observed.expiring) {
    const id = member.split('\t').at(-1)!;
    expiring.set(id, [...(expiring.get(id) ?? []), member]);
  }
  for (const task of tasks) {
    const { taskId: id, tenant, type } = task;
    const state = observed.tasks.get(id)?.state;
    if (state === undefined) {
      violations.push(`${id}: no status`);
      continue;
    }
    const listed = listedUnder.get(id) ?? [];
    if (listed.length !== 1 || listed[0] !== state) violations.push(`${id}: ${state}, but listed under [${listed.join(', ')}] of tenant ${tenant}`);
    if (!inIndex(KEYS.tasksByTime(tenant)).has(id)) violations.push(`${id}: missing from ${KEYS.tasksByTime(tenant)}`);
    if (!inIndex(KEYS.tasksByType(tenant, type)).has(id)) violations.push(`${id}: missing from ${KEYS.tasksByType(tenant, type)}`);
    if (!isTerminal(state) && !observed.active.has(id)) violations.push(`${id}: ${state}, but missing from the active-task index`);
    if (isTerminal(state)) {
      const entries = expiring.get(id) ?? [];
      const expected = [tenant, type, state, id].join('\t');
      if (entries.length !== 1 || entries[0] !== expected) {
        violations.push(`${id}: ${state}, expiring entries ${JSON.stringify(entries)}, expected ${JSON.stringify([expected])}`);
      }
    }
  }
  for (const [id, state] of observed.active) {
    if (state === undefined || isTerminal(state)) violations.push(`${id}: in the active-task index, but ${state ?? 'without a status'}`);
  }
  return violations;
}

export async function checkTaskIndexes(redis: Redis, tasks: readonly IndexedTask[]): Promise<string[]> {
  return toIndexViolations(await readIndexes(redis, tasks), tasks);
}
