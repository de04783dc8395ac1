// The invariants of docs/design.md §5, checked after a fault scenario. Returns the violations (empty =
// all hold), so a failing test prints every broken task at once, each line starting with its id:
// - every accepted task reached exactly one terminal state (the expected one, when given), its
//   history has consecutive seqs and never moved backwards, and a SUCCEEDED task has its result;
// - handlers ran as often as the task needs (1, or `expectedRuns`), counted from every
//   `handler.started` published (run-counter.ts) together with the stored audit list, so a second
//   run with the same attempt number is counted too. A task may run once more per fault that
//   touched it: it was running when the fault struck, started while the fault lasted, or (with
//   `unconfirmedMs`) had just published its end, which the fault may have lost. Every other task
//   runs exactly as often as it needs. A task whose handler decides by the attempt number (flaky
//   throws on attempts 1..N) needs fewer runs when a fault used up an attempt without a run: a
//   delivery refused by a draining worker (503) or handed back by a stopping source is an attempt
//   all the same. Such a skipped attempt counts only when a fault struck before the run after
//   it. A FAILED or CANCELLED task with an expectation runs at most that often (plus its
//   allowance; fewer when a delivery was used up without a run), a REJECTED task never;
// - dead letters: each is complete (reason, stage, attempt count); a FAILED task has exactly one
//   (from the stage that gave up: `worker`, the scheduler's promoter, or a source,
//   `source:<function>`); a REJECTED task exactly one, from `ingest` (it rejects for good and
//   dead-letters what it rejected, so an operator sees every refused task in one list); a
//   SUCCEEDED task none; a CANCELLED task at most one (a cancel can win the race against a last
//   attempt's failure, whose dead letter stays).
import type { Redis } from '../../shared/redis';
import { isTerminal, KEYS, type StoredStatus } from '../../shared/contract';
import { isNewer, readHistory, readStatus } from '../../shared/status';
import { createRunLedger, toHandlerStart, type HandlerStart, type RunCounter, type RunLedger, type RunRecord } from './run-counter';

/** A fault the scenario injected, for the run allowance. Times are the test's Date.now(), the
 * clock the stages stamp their records with (one machine). */
export type Fault = {
  /** Says what it was, in violation messages: "worker-source SIGKILL". */
  name: string;
  /** When it struck. */
  atMs: number;
  /** When it was over (a server back, a stop finished, a request in transit arrived): a run that
   * started until then was touched too. Default: `atMs`. */
  untilMs?: number;
  /** A server killed can lose what it had passed on but not yet stored: a run whose end was
   * published this long before `atMs` may have to run again. Default 0. */
  unconfirmedMs?: number;
};

export type InvariantOptions = {
  /** Task ids whose SubmitTask returned an id. */
  taskIds: readonly string[];
  /** The run counter, started before the workload. */
  runs: RunCounter;
  /** Faults that can cut a run short; a task they touched may run once more per fault. */
  faults?: readonly Fault[];
  /** Handler runs a task needs without faults (SUCCEEDED: 1 by default; a flaky task needs more). */
  expectedRuns?: ReadonlyMap<string, number>;
  /** Expected final state by task id, when the scenario knows it. */
  expectedStates?: ReadonlyMap<string, string>;
};

export type Invariants = {
  violations: string[];
  terminalCount: number;
  /** Distinct handler runs per task (published or stored). */
  runsByTask: Map<string, number>;
  /** The faults that touched each checked task. */
  touched: Map<string, string[]>;
};

/** What the checker reads from Redis for one task. */
export type ObservedTask = { status?: StoredStatus; history: readonly StoredStatus[]; hasResult: boolean };

export type Observed = {
  tasks: ReadonlyMap<string, ObservedTask>;
  /** The whole `dead_letter` list. */
  deadLetters: readonly Record<string, unknown>[];
  /** `handler.started` entries of the stored audit list. */
  auditStarts: readonly RunRecord[];
};

async function readJsonList(redis: Redis, key: string): Promise<Record<string, unknown>[]> {
  return (await redis.lrange(key, 0, -1)).map((entry) => JSON.parse(entry) as Record<string, unknown>);
}

export async function readObserved(redis: Redis, taskIds: readonly string[]): Promise<Observed> {
  const auditStarts = (await readJsonList(redis, KEYS.auditEvents)).flatMap((entry) => toHandlerStart(entry) ?? []);
  const deadLetters = await readJsonList(redis, KEYS.deadLetter);
  const tasks = new Map<string, ObservedTask>();
  for (const id of taskIds) {
    const status = await readStatus(redis, id);
    const history = status ? await readHistory(redis, id) : [];
    const hasResult = status?.state === 'SUCCEEDED' ? Boolean(await redis.hget(KEYS.result(id), 'json')) : false;
    tasks.set(id, { ...(status ? { status } : {}), history, hasResult });
  }
  return { tasks, deadLetters, auditStarts };
}

export async function checkInvariants(redis: Redis, options: InvariantOptions): Promise<Invariants> {
  // Everything published before now has reached the counter.
  await options.runs.flush();
  return toInvariants(await readObserved(redis, options.taskIds), options.runs.records, options);
}

/** The faults that touched each task (see Fault). */
export function toTouched(ledger: RunLedger, faults: readonly Fault[]): Map<string, string[]> {
  const touched = new Map<string, string[]>();
  for (const fault of faults) {
    const ids = new Set([
      ...ledger.runningAt(fault.atMs),
      ...ledger.startedBetween(fault.atMs, fault.untilMs ?? fault.atMs),
      ...(fault.unconfirmedMs ? ledger.endedBetween(fault.atMs - fault.unconfirmedMs, fault.atMs) : []),
    ]);
    for (const id of ids) touched.set(id, [...(touched.get(id) ?? []), fault.name]);
  }
  return touched;
}

/** Attempts a fault used up without a run: attempt numbers the runs skipped, each counted only
 * when a fault struck before the first run after the gap (without a fault, every delivery runs). */
export function toSkippedAttempts(starts: readonly HandlerStart[], faults: readonly Fault[]): number {
  const firstRunOf = new Map<number, number>();
  for (const start of starts) firstRunOf.set(start.attempt, Math.min(firstRunOf.get(start.attempt) ?? Infinity, start.atMs));
  let skipped = 0;
  let next = 1;
  for (const [attempt, atMs] of [...firstRunOf].sort(([a], [b]) => a - b)) {
    if (attempt > next && faults.some((fault) => fault.atMs <= atMs)) skipped += attempt - next;
    next = attempt + 1;
  }
  return skipped;
}

const clock = (ms: number) => new Date(ms).toISOString().slice(11, 23);

/** "attempt 1 at 10:00:01.234, attempt 1 at 10:00:04.001". */
function describeRuns(starts: readonly HandlerStart[]): string {
  return starts.length === 0 ? 'none' : starts.map((start) => `attempt ${start.attempt} at ${clock(start.atMs)}`).join(', ');
}

/** Whether the task ran as often as it may, by its terminal state; undefined when it did. */
export function toRunViolation(
  id: string,
  state: string,
  starts: readonly HandlerStart[],
  needed: number | undefined,
  touchedBy: readonly string[],
): string | undefined {
  const runs = starts.length;
  const extra = touchedBy.length;
  const allowance = extra > 0 ? `, or up to ${extra} more: running when ${touchedBy.join(', ')} struck` : ', no fault touched it';
  const says = (what: string) => `${id}: ${state} after ${runs} handler runs, ${what}${allowance} (runs: ${describeRuns(starts)})`;
  switch (state) {
    case 'SUCCEEDED': {
      const need = needed ?? 1;
      return runs < need || runs > need + extra ? says(`expected ${need}`) : undefined;
    }
    case 'REJECTED':
      return runs > 0 ? `${id}: REJECTED but its handler ran ${runs} times (runs: ${describeRuns(starts)})` : undefined;
    default:
      return needed !== undefined && runs > needed + extra ? says(`expected at most ${needed}`) : undefined;
  }
}

/** The dead letters a task in `state` must have (see the header); empty when it has them. */
export function toDeadLetterViolations(id: string, state: string, letters: readonly Record<string, unknown>[]): string[] {
  const stages = letters.map((letter) => String(letter.stage));
  const listed = `${letters.length} dead letters${stages.length ? ` (stages ${stages.join(', ')})` : ''}`;
  switch (state) {
    case 'FAILED': {
      if (letters.length !== 1) return [`${id}: FAILED with ${listed}, expected exactly one`];
      const stage = stages[0]!;
      return stage === 'worker' || stage === 'scheduler' || stage.startsWith('source:') ? [] : [`${id}: FAILED with a dead letter from ${stage}, not from a stage that gives up on tasks`];
    }
    case 'REJECTED':
      return letters.length === 1 && stages[0] === 'ingest' ? [] : [`${id}: REJECTED with ${listed}, expected exactly one from ingest`];
    case 'SUCCEEDED':
      return letters.length === 0 ? [] : [`${id}: SUCCEEDED with ${listed}, expected none`];
    case 'CANCELLED':
      return letters.length <= 1 ? [] : [`${id}: CANCELLED with ${listed}, expected at most one`];
    default:
      return [];
  }
}

/** The invariants over what was read (pure). `published`: the run counter's records. */
export function toInvariants(observed: Observed, published: readonly RunRecord[], options: Omit<InvariantOptions, 'runs'>): Invariants {
  const violations: string[] = [];
  // The checked tasks only: a shared stack's audit list holds other scenarios' runs too.
  const checked = new Set(options.taskIds);
  const ledger = createRunLedger([...published, ...observed.auditStarts].filter((record) => checked.has(record.taskId)));
  const touched = toTouched(ledger, options.faults ?? []);
  const lettersByTask = new Map<string, Record<string, unknown>[]>();
  for (const letter of observed.deadLetters) {
    if (!letter.reason || !letter.stage || typeof letter.attempts !== 'number') {
      violations.push(`incomplete dead letter: ${JSON.stringify(letter).slice(0, 300)}`);
    }
    const id = String(letter.taskId);
    lettersByTask.set(id, [...(lettersByTask.get(id) ?? []), letter]);
  }

  let terminalCount = 0;
  const runsByTask = new Map<string, number>();
  for (const id of options.taskIds) {
    const starts = ledger.startsOf(id);
    runsByTask.set(id, starts.length);
    const { status, history = [], hasResult = false } = observed.tasks.get(id) ?? {};
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
    const terminals = history.filter((entry) => isTerminal(entry.state));
    if (terminals.length !== 1) violations.push(`${id}: ${terminals.length} terminal states in its history`);
    for (let i = 1; i < history.length; i += 1) {
      const previous = history[i - 1]!;
      const current = history[i]!;
      if (current.seq !== previous.seq + 1) violations.push(`${id}: history seq ${previous.seq} → ${current.seq}`);
      if (!isNewer(current, previous)) violations.push(`${id}: status moved backwards ${previous.state} → ${current.state}`);
    }
    const needed = options.expectedRuns?.get(id);
    const skipped = toSkippedAttempts(starts, options.faults ?? []);
    // A skipped attempt implies a run after it: never fewer than one then.
    const need = needed !== undefined && skipped > 0 ? Math.max(1, needed - skipped) : needed;
    const runViolation = toRunViolation(id, status.state, starts, need, touched.get(id) ?? []);
    if (runViolation) violations.push(runViolation);
    if (status.state === 'SUCCEEDED' && !hasResult) violations.push(`${id}: SUCCEEDED without a stored result`);
    violations.push(...toDeadLetterViolations(id, status.state, lettersByTask.get(id) ?? []));
  }
  return { violations, terminalCount, runsByTask, touched };
}
