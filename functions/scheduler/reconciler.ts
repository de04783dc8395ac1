// The reconciler: defence in depth for "nothing lost" (docs/reliability.md). No broker quirk,
// crash or operator mistake may strand an accepted task silently, so one sweep at a time (the
// loop holds a Redis lease, reconciler-loop.ts) looks for tasks that are not terminal and whose
// last status change is older than `staleAfterMs`, and re-drives each one that no stage holds:
// - QUEUED, VALIDATED, ENRICHED → its `submitted` event again, on tasks.ingest;
// - SCHEDULED, RUNNING, RETRYING → its `scheduled` event again, on its worker subject;
// - any of them with a result stored → the result-store's terminal status again (it ran; the
//   status was lost on the way).
// Left alone: a task waiting for its delay (in the delayed set, or not due yet), a task a worker
// runs right now (its run lease is held), and a task whose stage's consumer still holds a
// message at least as old as the task's last change (JetStream may hold its event: a backlog, a
// retry waiting for its delay). After `forceAfterMs` without a change a task is re-driven even
// then. A task that qualifies is re-driven only at a later sweep, once the notifier has applied
// every status change published before the first (its stage may have moved it on with a change
// still waiting to be applied), and if its status has not changed meanwhile. A re-drive is the same CloudEvent (same id) with the re-drive mark `redrive: <n>`, which
// gives it, and everything published while it is handled, a new Nats-Msg-Id (shared/emit.ts
// toMsgId): JetStream's duplicate window does not drop the chain, and the stages absorb a copy
// by event id as they absorb any redelivery (docs/pipeline.md).
// Each re-drive is logged, audited (`reconciler.redrive`), counted, and bounded: after
// `maxRedrives` re-drives without reaching a terminal state, the task is FAILED with a dead
// letter that says why.
import {
  CONSUMERS,
  EVENT_TYPES,
  isTerminal,
  PRIORITIES,
  SUBJECTS,
  toWorkerSubject,
  type ConsumerSpec,
  type StoredStatus,
  type TaskEnvelope,
  type TaskOutcome,
  type TaskStateName,
} from '../../shared/contract';
import { createStepEvent, EVENT_IDS, type Emitter } from '../../shared/emit';
import { describeError } from '../../shared/errors';
import { createEvent, type WireEvent } from '../../shared/events';
import type { Logger } from '../../shared/logger';
import type { TaskRecord } from '../../shared/task-record';

export const RECONCILER_STAGE = 'reconciler';

export type ReconcilerSettings = {
  /** A task whose last status change is older than this is looked at. */
  staleAfterMs: number;
  /** A task this stale is re-driven even while its stage's consumer holds older messages. */
  forceAfterMs: number;
  /** Allowed clock difference between the stage that reported a status and nats-server. */
  slackMs: number;
  maxRedrives: number;
  /** Tasks looked at per sweep (the oldest first). */
  batchSize: number;
};

export type ReconcilerDeps = {
  /** Ids of tasks that are not terminal and did not change since `beforeMs`, oldest first. */
  findStalled(beforeMs: number, limit: number): Promise<string[]>;
  /** Drops a task from the stalled index (it is terminal, or its record is gone). */
  forget(taskId: string): Promise<void>;
  readStatus(taskId: string): Promise<StoredStatus | undefined>;
  readTask(taskId: string): Promise<TaskRecord | undefined>;
  /** The outcome the result-store stored for the task, if any. */
  readOutcome(taskId: string): Promise<StoredOutcome | undefined>;
  /** Waiting in the delayed set, or claimed by a promoter that is publishing it. */
  isDelayed(taskId: string): Promise<boolean>;
  /** A worker run holds the task's lease (functions/worker/attempt-claims.ts). */
  hasLiveRun(taskId: string): Promise<boolean>;
  /** When the oldest message the consumer still holds (not delivered, or not acked) was
   * published, in ms since the epoch; undefined when it holds none. */
  oldestHeldMs(consumer: ConsumerSpec): Promise<number | undefined>;
  /** The notifier's consumer: while it lags, Redis shows tasks in older states than they are in. */
  statusConsumer: ConsumerSpec;
  /** Counts one more re-drive of the task; returns the new count. */
  countRedrive(taskId: string): Promise<number>;
  /** Publishes `event` (shared/nats.ts: its re-drive mark makes the Nats-Msg-Id, see above). */
  publish(subject: string, event: WireEvent): Promise<void>;
  emit: Emitter;
  metrics: ReconcilerMetrics;
  logger: Logger;
  now: () => number;
  settings: ReconcilerSettings;
};

export type ReconcilerMetrics = {
  swept(): void;
  redriven(state: TaskStateName): void;
  failed(): void;
};

/** Where a task that stalled in `state` goes again: the stage it is stuck before. */
export type Route = { subject: string; consumer: ConsumerSpec; event: WireEvent };

const INGEST_STATES: ReadonlySet<TaskStateName> = new Set(['QUEUED', 'VALIDATED', 'ENRICHED']);
const WORKER_STATES: ReadonlySet<TaskStateName> = new Set(['SCHEDULED', 'RUNNING', 'RETRYING']);

/** What the result-store stored for a task (its terminal outcome), when it did. */
export type StoredOutcome = { state: TaskOutcome; attempts: number; error: string };

/** The result-store's report of a stored outcome, as it published it (the same event id). */
function toOutcomeEvent(taskId: string, outcome: StoredOutcome, nowMs: number): WireEvent {
  const { state, attempts } = outcome;
  return createStepEvent({
    component: 'result-store',
    taskId,
    states: [{ state, attempt: attempts, message: state === 'SUCCEEDED' ? '' : outcome.error, progress: state === 'SUCCEEDED' ? 100 : 0 }],
    audit: { action: 'result.stored', attempt: attempts, detail: `${state} after ${attempts} attempt(s)` },
    nowMs,
  });
}

/**
 * The event that moves a task on from `state` again, or undefined for a state with no next stage.
 * A task whose result is stored already ran: its terminal status was lost on the way, so that
 * status goes out again rather than the task (the worker would skip a run that ended).
 */
export function toRoute(state: TaskStateName, envelope: TaskEnvelope, nowMs: number, outcome?: StoredOutcome): Route | undefined {
  const taskId = envelope.taskId;
  if (outcome && !isTerminal(state)) {
    return { subject: SUBJECTS.status, consumer: CONSUMERS.notifier[0], event: toOutcomeEvent(taskId, outcome, nowMs) };
  }
  if (INGEST_STATES.has(state)) {
    const event = createEvent({ id: EVENT_IDS.submitted(taskId), component: 'gateway', type: EVENT_TYPES.submitted, taskId, data: envelope, timeMs: nowMs });
    return { subject: SUBJECTS.ingest, consumer: CONSUMERS.ingest[0], event };
  }
  if (WORKER_STATES.has(state)) {
    const event = createEvent({ id: EVENT_IDS.scheduled(taskId), component: 'scheduler', type: EVENT_TYPES.scheduled, taskId, data: envelope, timeMs: nowMs });
    const consumer = CONSUMERS.worker[PRIORITIES.indexOf(envelope.priority)] ?? CONSUMERS.worker[1];
    return { subject: toWorkerSubject(envelope.priority), consumer, event };
  }
  return undefined;
}

export type Verdict =
  | { action: 'forget'; why: string }
  | { action: 'wait'; why: string }
  | { action: 'redrive'; route: Route };

export type TaskFacts = {
  status: StoredStatus | undefined;
  envelope: TaskEnvelope | undefined;
  /** The gateway saw the PubAck of its `submitted` event (the client got the task id). */
  published: boolean;
  outcome?: StoredOutcome | undefined;
  delayed: boolean;
  liveRun: boolean;
  /** Publish time of the oldest message the task's stage still holds; undefined: none. */
  oldestHeldMs: number | undefined;
};

/** What to do with one stalled task, from what was read about it (pure). */
export function judge(facts: TaskFacts, settings: ReconcilerSettings, nowMs: number): Verdict {
  const { status, envelope } = facts;
  if (!status || !envelope) return { action: 'forget', why: 'the task record is gone' };
  if (isTerminal(status.state)) return { action: 'forget', why: `the task is ${status.state}` };
  // A submission that died before its PubAck never gave the client an id: not accepted, so not
  // run behind its back. A retry with the same idempotency key publishes it (gateway/service.ts),
  // and its next status change puts it back in the index.
  if (status.state === 'QUEUED' && !facts.published) return { action: 'forget', why: 'its submission was never confirmed' };
  const staleFor = nowMs - status.updatedAtMs;
  if (staleFor < settings.staleAfterMs) return { action: 'wait', why: 'it changed since the sweep began' };
  if (facts.delayed || envelope.notBeforeMs > nowMs) return { action: 'wait', why: 'it waits for its delay' };
  if (facts.liveRun) return { action: 'wait', why: 'a worker runs it' };
  const route = toRoute(status.state, envelope, nowMs, facts.outcome);
  if (!route) return { action: 'wait', why: `no stage follows ${status.state}` };
  const mayHoldIt = facts.oldestHeldMs !== undefined && facts.oldestHeldMs <= status.updatedAtMs + settings.slackMs;
  if (mayHoldIt && staleFor < settings.forceAfterMs) {
    return { action: 'wait', why: `${route.consumer.durable} still holds messages from before its last change` };
  }
  return { action: 'redrive', route };
}

export type Reconciler = {
  /** One sweep over the stalled tasks; returns how many were re-driven or failed. */
  sweep(): Promise<number>;
};

/** A task that looked stranded at a sweep: its status seq then, and when. */
type Suspect = { seq: number; seenAtMs: number };

export function createReconciler(deps: ReconcilerDeps): Reconciler {
  const { settings, logger } = deps;
  let suspects = new Map<string, Suspect>();

  async function factsOf(taskId: string, held: Map<string, Promise<number | undefined>>): Promise<TaskFacts> {
    const [status, record, outcome, delayed, liveRun] = await Promise.all([
      deps.readStatus(taskId),
      deps.readTask(taskId),
      deps.readOutcome(taskId),
      deps.isDelayed(taskId),
      deps.hasLiveRun(taskId),
    ]);
    const envelope = record?.envelope;
    const route = status && envelope ? toRoute(status.state, envelope, deps.now(), outcome) : undefined;
    let oldestHeldMs: number | undefined;
    if (route) {
      // One read per consumer and sweep, shared by every task of that stage.
      const key = route.consumer.durable;
      if (!held.has(key)) held.set(key, deps.oldestHeldMs(route.consumer));
      oldestHeldMs = await held.get(key);
    }
    return { status, envelope, published: record?.publishedAtMs !== undefined, outcome, delayed, liveRun, oldestHeldMs };
  }

  async function failForGood(taskId: string, status: StoredStatus, count: number): Promise<void> {
    const reason = `stranded at ${status.state}: still not terminal after ${count - 1} re-drives by the reconciler`;
    logger.error({ taskId, state: status.state, redrives: count - 1 }, 'task stranded for good: failed');
    await deps.emit.deadLetter({ taskId, reason, attempts: status.attempt, lastError: reason, event: null });
    await deps.emit.status(taskId, 'FAILED', { attempt: status.attempt, message: reason });
    deps.metrics.failed();
  }

  async function redrive(taskId: string, status: StoredStatus, route: Route, heldFromMs: number | undefined): Promise<void> {
    const count = await deps.countRedrive(taskId);
    if (count > settings.maxRedrives) {
      await failForGood(taskId, status, count);
      return;
    }
    const event: WireEvent = { ...route.event, redrive: String(count) };
    await deps.publish(route.subject, event);
    const detail = `${status.state} for ${deps.now() - status.updatedAtMs} ms: ${event.type} re-published on ${route.subject} (re-drive ${count} of ${settings.maxRedrives})`;
    logger.warn(
      { taskId, state: status.state, updatedAtMs: status.updatedAtMs, subject: route.subject, heldFromMs: heldFromMs ?? null, redrive: count },
      'stalled task re-driven',
    );
    await deps.emit.audit(taskId, 'reconciler.redrive', { attempt: count, detail });
    deps.metrics.redriven(status.state);
  }

  return {
    async sweep() {
      deps.metrics.swept();
      const now = deps.now();
      // Everything published before `caughtUpMs` is applied in Redis: the notifier holds nothing
      // older. Redis shows a task as of its last applied change, and a stage may have moved the
      // task on with a change still waiting in the notifier. So a task whose stage holds nothing
      // for it is first only suspected; it is re-driven at a later sweep, once every change
      // published before it was suspected is applied and it still has not changed.
      const statusFrom = await deps.oldestHeldMs(deps.statusConsumer);
      const caughtUpMs = statusFrom ?? now;
      if (now - caughtUpMs > settings.staleAfterMs) {
        logger.warn({ lagMs: now - caughtUpMs }, 'status changes wait unapplied for longer than the stale bound');
      }
      const ids = await deps.findStalled(now - settings.staleAfterMs, settings.batchSize);
      const held = new Map<string, Promise<number | undefined>>();
      const suspectedNow = new Map<string, Suspect>();
      let acted = 0;
      for (const taskId of ids) {
        try {
          const facts = await factsOf(taskId, held);
          const verdict = judge(facts, settings, deps.now());
          if (verdict.action === 'forget') await deps.forget(taskId);
          if (verdict.action === 'wait') logger.debug({ taskId, why: verdict.why }, 'stalled task left alone');
          if (verdict.action !== 'redrive' || !facts.status) continue;
          const earlier = suspects.get(taskId);
          if (earlier && earlier.seq === facts.status.seq && earlier.seenAtMs < caughtUpMs) {
            await redrive(taskId, facts.status, verdict.route, facts.oldestHeldMs);
            acted += 1;
          } else {
            suspectedNow.set(taskId, earlier?.seq === facts.status.seq ? earlier : { seq: facts.status.seq, seenAtMs: now });
          }
        } catch (error) {
          // One task's trouble (NATS or Redis down) must not stop the sweep: it is seen again next time.
          logger.warn({ taskId, err: describeError(error) }, 'could not reconcile a stalled task; retrying next sweep');
        }
      }
      // Only what this sweep still suspects is remembered (bounded by the batch size).
      suspects = suspectedNow;
      return acted;
    },
  };
}
