// Counts handler runs where a repeat cannot hide. The audit list in Redis cannot: the audit event
// of a run has the id `<task>:audit:worker:handler.started:<attempt>`, so a second run with the
// same attempt number (a delivery count JetStream repeats after a source crash, a copy of the
// `scheduled` event) publishes the same Nats-Msg-Id, which the duplicate window drops, and the
// audit stage's own dedupe drops what is left. A plain core-NATS subscription opened before the
// workload sees every publish on the subject, also the ones JetStream then drops.
//
// Each run is told apart by its own timestamp (a new run builds a new record), so an exact
// re-publish of one record (a test replaying events) counts once, and two runs are two.
//
// Besides the starts it records how runs ended (`finished`, or a RETRYING status from the
// worker), so that a fault scenario can tell which tasks were running when the fault struck.
//
// What it cannot see (docs/reliability.md, "What each oracle sees"): publishes while its own
// connection is away from the server (a NATS restart: until it has reconnected and resubscribed)
// and, with a server SIGKILLed, a message the server had not yet flushed to it. The checker adds
// the stored audit list's starts for those; a same-attempt repeat published in such a window is
// the one thing neither sees. A publish the server passed on and then lost (killed before it
// stored it) is counted although it was refused to the worker, whose run then did not go on.
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { EVENT_TYPES, SUBJECTS } from '../../shared/contract';

/** One run of a task's handler, as the worker announced it before running it. */
export type HandlerStart = { taskId: string; attempt: number; atMs: number };
/** The end of a run as the worker published it: `finished` (any outcome) or status RETRYING. */
export type RunEnd = { taskId: string; attempt: number; atMs: number };
export type RunRecord = ({ kind: 'start' } & HandlerStart) | ({ kind: 'end' } & RunEnd);

/** The subjects the records travel on. A status event is read too: a stage step carries its
 * audit record (the worker's RUNNING step carries `handler.started`), and RETRYING ends a run. */
export const RUN_SUBJECTS: readonly string[] = [SUBJECTS.audit, SUBJECTS.status, SUBJECTS.results];

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

/** The handler start an audit record (AuditData, or an `audit_events` entry) stands for, else
 * undefined: the one reading of a `handler.started` record, for published events and the stored
 * audit list alike. */
export function toHandlerStart(audit: unknown): RunRecord | undefined {
  if (!isRecord(audit) || audit.action !== 'handler.started') return undefined;
  const { taskId, attempt, atMs } = audit;
  if (typeof taskId !== 'string' || !isCount(attempt) || !isCount(atMs)) return undefined;
  return { kind: 'start', taskId, attempt, atMs };
}

/**
 * The run records one published message carries; the one place that knows their shapes, read by
 * the event's type whatever the subject:
 * - `audit.recorded` whose data is a `handler.started` audit record: a start;
 * - `status.changed`: a stage step (StatusStep); its audit record `data.audit` may be a start, and
 *   a RETRYING transition from the worker ends its run;
 * - `task.finished`: the end of the run of `attempts`.
 * Anything else (another scenario's poison, other events): nothing.
 */
export function toRunRecords(bytes: Uint8Array | string): RunRecord[] {
  let event: unknown;
  try {
    event = JSON.parse(typeof bytes === 'string' ? bytes : new TextDecoder().decode(bytes));
  } catch {
    return [];
  }
  if (!isRecord(event) || !isRecord(event.data)) return [];
  const data = event.data;
  switch (event.type) {
    case EVENT_TYPES.auditRecorded: {
      const start = toHandlerStart(data);
      return start ? [start] : [];
    }
    case EVENT_TYPES.statusChanged: {
      const records: RunRecord[] = [];
      const start = toHandlerStart(data.audit);
      if (start) records.push(start);
      const { taskId, stage } = data;
      const transitions = Array.isArray(data.transitions) ? data.transitions : [];
      for (const next of transitions) {
        if (!isRecord(next) || next.state !== 'RETRYING' || stage !== 'worker' || typeof taskId !== 'string') continue;
        if (isCount(next.attempt) && isCount(next.updatedAtMs)) records.push({ kind: 'end', taskId, attempt: next.attempt, atMs: next.updatedAtMs });
      }
      return records;
    }
    case EVENT_TYPES.finished: {
      const { task, attempts, finishedAtMs } = data;
      if (!isRecord(task) || typeof task.taskId !== 'string' || !isCount(attempts) || !isCount(finishedAtMs)) return [];
      return [{ kind: 'end', taskId: task.taskId, attempt: attempts, atMs: finishedAtMs }];
    }
    default:
      return [];
  }
}

/** What the records say about each task's runs (pure: the checker and its unit tests use it). */
export type RunLedger = {
  add(record: RunRecord): void;
  /** Every task with at least one start. */
  taskIds(): string[];
  /** The task's distinct starts, by time (a record seen twice counts once). */
  startsOf(taskId: string): HandlerStart[];
  runsOf(taskId: string): number;
  /** Attempt numbers of the task's runs in the order they started (a same-attempt repeat
   * appears twice). */
  attemptsOf(taskId: string): number[];
  /** Tasks running at `atMs`: their latest start at or before it has no end of the same
   * attempt between that start and `atMs`. */
  runningAt(atMs: number): Set<string>;
  /** Tasks with a start in (fromMs, toMs]. */
  startedBetween(fromMs: number, toMs: number): Set<string>;
  /** Tasks with an end in [fromMs, toMs]. */
  endedBetween(fromMs: number, toMs: number): Set<string>;
};

export function createRunLedger(records: readonly RunRecord[] = []): RunLedger {
  const starts = new Map<string, Map<string, HandlerStart>>();
  const ends = new Map<string, RunEnd[]>();
  const sortedStarts = (taskId: string) => [...(starts.get(taskId)?.values() ?? [])].sort((a, b) => a.atMs - b.atMs);
  const ledger: RunLedger = {
    add(record) {
      if (record.kind === 'start') {
        const byKey = starts.get(record.taskId) ?? new Map<string, HandlerStart>();
        byKey.set(`${record.attempt}@${record.atMs}`, { taskId: record.taskId, attempt: record.attempt, atMs: record.atMs });
        starts.set(record.taskId, byKey);
      } else {
        const list = ends.get(record.taskId) ?? [];
        list.push({ taskId: record.taskId, attempt: record.attempt, atMs: record.atMs });
        ends.set(record.taskId, list);
      }
    },
    taskIds: () => [...starts.keys()],
    startsOf: sortedStarts,
    runsOf: (taskId) => starts.get(taskId)?.size ?? 0,
    attemptsOf: (taskId) => sortedStarts(taskId).map((start) => start.attempt),
    runningAt(atMs) {
      const running = new Set<string>();
      for (const taskId of starts.keys()) {
        const latest = sortedStarts(taskId).filter((start) => start.atMs <= atMs).at(-1);
        if (!latest) continue;
        const ended = (ends.get(taskId) ?? []).some((end) => end.attempt === latest.attempt && end.atMs >= latest.atMs && end.atMs <= atMs);
        if (!ended) running.add(taskId);
      }
      return running;
    },
    startedBetween(fromMs, toMs) {
      const found = new Set<string>();
      for (const [taskId, byKey] of starts) {
        if ([...byKey.values()].some((start) => start.atMs > fromMs && start.atMs <= toMs)) found.add(taskId);
      }
      return found;
    },
    endedBetween(fromMs, toMs) {
      const found = new Set<string>();
      for (const [taskId, list] of ends) {
        if (list.some((end) => end.atMs >= fromMs && end.atMs <= toMs)) found.add(taskId);
      }
      return found;
    },
  };
  for (const record of records) ledger.add(record);
  return ledger;
}

export type RunCounter = {
  /** Every record seen so far, in arrival order. */
  readonly records: readonly RunRecord[];
  /** Times its connection was away from the server: publishes then were not seen. */
  readonly blind: readonly { fromMs: number; toMs?: number }[];
  /** The records so far, as a ledger. */
  ledger(): RunLedger;
  /** Resolves once everything the server sent before now has arrived (a PING round trip). */
  flush(): Promise<void>;
  stop(): Promise<void>;
};

/** Subscribes to RUN_SUBJECTS on `nc` (core NATS, no JetStream consumer) and records every run
 * record published from now on; resolves once the server has the subscriptions. */
export async function startRunCounter(nc: NatsConnection): Promise<RunCounter> {
  const records: RunRecord[] = [];
  const blind: { fromMs: number; toMs?: number }[] = [];
  const subs: Subscription[] = RUN_SUBJECTS.map((subject) =>
    nc.subscribe(subject, {
      callback: (error, msg) => {
        if (!error) records.push(...toRunRecords(msg.data));
      },
    }),
  );
  const statuses = nc.status();
  void (async () => {
    for await (const status of statuses) {
      if (status.type === 'disconnect') blind.push({ fromMs: Date.now() });
      // The client sends its subscriptions again as part of the reconnect.
      const last = blind.at(-1);
      if (status.type === 'reconnect' && last && last.toMs === undefined) last.toMs = Date.now();
    }
  })();
  await nc.flush();
  return {
    records,
    blind,
    ledger: () => createRunLedger(records),
    flush: () => nc.flush(),
    async stop() {
      await nc.flush().catch(() => undefined);
      for (const sub of subs) sub.unsubscribe();
      (statuses as { stop?: () => void }).stop?.();
    },
  };
}
