// The invariants of docs/design.md §5, checked after a fault scenario: every accepted task reached
// exactly one terminal state, no status moved backwards, handlers ran once unless the scenario
// allows a second run, dead letters are complete. Returns the violations (empty = all hold),
// so a failing test prints every broken task at once.
import type { Redis } from 'ioredis';
import { isTerminal, KEYS, type StatusUpdate } from '../../shared/contract';
import { isNewer, readHistory, readStatus } from '../../shared/status';

export type InvariantOptions = {
  /** Task ids whose SubmitTask returned an id. */
  taskIds: readonly string[];
  /** Tasks allowed to have run their handler more than once (the scenario made it unavoidable). */
  mayRunTwice?: ReadonlySet<string> | 'all';
  /** Handler runs a SUCCEEDED task needs without faults (default 1; a flaky task needs more). */
  expectedRuns?: ReadonlyMap<string, number>;
  /** Expected final state by task id, when the scenario knows it. */
  expectedStates?: ReadonlyMap<string, string>;
};

export type Invariants = { violations: string[]; terminalCount: number; runsByTask: Map<string, number> };

async function readJsonList(redis: Redis, key: string): Promise<Record<string, unknown>[]> {
  return (await redis.lrange(key, 0, -1)).map((entry) => JSON.parse(entry) as Record<string, unknown>);
}

export async function checkInvariants(redis: Redis, options: InvariantOptions): Promise<Invariants> {
  const violations: string[] = [];
  const audit = await readJsonList(redis, KEYS.auditEvents);
  const runsByTask = new Map<string, number>();
  for (const entry of audit) {
    if (entry.action !== 'handler.started') continue;
    const id = String(entry.taskId);
    runsByTask.set(id, (runsByTask.get(id) ?? 0) + 1);
  }
  const deadLetters = await readJsonList(redis, KEYS.deadLetter);
  for (const letter of deadLetters) {
    if (!letter.reason || !letter.stage || typeof letter.attempts !== 'number') {
      violations.push(`incomplete dead letter: ${JSON.stringify(letter).slice(0, 300)}`);
    }
  }

  let terminalCount = 0;
  for (const id of options.taskIds) {
    const status = await readStatus(redis, id);
    if (!status) {
      violations.push(`${id}: no status at all (lost)`);
      continue;
    }
    if (!isTerminal(status.state)) {
      violations.push(`${id}: not terminal (${status.state} from ${status.stage})`);
      continue;
    }
    terminalCount += 1;
    const expected = options.expectedStates?.get(id);
    if (expected && status.state !== expected) violations.push(`${id}: ended ${status.state}, expected ${expected}`);
    const history = await readHistory(redis, id);
    const terminals = history.filter((entry) => isTerminal(entry.state));
    if (terminals.length !== 1) violations.push(`${id}: ${terminals.length} terminal states in its history`);
    for (let i = 1; i < history.length; i += 1) {
      const previous = history[i - 1] as StatusUpdate & { seq: number };
      const current = history[i] as StatusUpdate & { seq: number };
      if (current.seq !== previous.seq + 1) violations.push(`${id}: history seq ${previous.seq} → ${current.seq}`);
      if (!isNewer(current, previous)) violations.push(`${id}: status moved backwards ${previous.state} → ${current.state}`);
    }
    const runs = runsByTask.get(id) ?? 0;
    const mayRunTwice = options.mayRunTwice === 'all' || options.mayRunTwice?.has(id);
    const needed = options.expectedRuns?.get(id) ?? 1;
    if (status.state === 'SUCCEEDED' && runs !== needed && !(mayRunTwice && runs >= needed)) {
      violations.push(`${id}: SUCCEEDED after ${runs} handler runs (expected ${needed})`);
    }
    if (status.state === 'SUCCEEDED') {
      const stored = await redis.hget(KEYS.result(id), 'json');
      if (!stored) violations.push(`${id}: SUCCEEDED without a stored result`);
    }
  }
  return { violations, terminalCount, runsByTask };
}
