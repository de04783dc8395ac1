// worker: takes `scheduled` (a TaskEnvelope) and runs the task's handler; emits `finished` on
// tasks.results. It never reports a terminal status itself: the result-store does, after it has
// persisted the result (docs/design.md §5.5).
// - The attempt gate (gate.ts) says whether this delivery runs: not for a terminal task or an
//   attempt another delivery handles; one run at a time, holding the task with a lease.
// - Each run: one status event (RUNNING, attempt n, with audit `handler.started`), sent as the run
//   step (run-step.ts) starts, its PubAck awaited with the outcome's. The run step runs the handler with an AbortSignal that fires on timeout
//   (metadata.timeout_ms, else the type's default) or on cancel. Progress goes out as throttled
//   RUNNING statuses.
// - Success → `finished` SUCCEEDED. Cancelled → `finished` CANCELLED.
// - A retryable failure (RetryableError, a timeout, any unexpected error) with attempts left →
//   status RETRYING, then a RetryableError (500): the source redelivers after the contract's
//   delay. On the last attempt (min(max_attempts, MaxDeliver)), or for a permanent error →
//   dead letter, then audit `handler.failed` and `finished` FAILED, and the delivery is acked.
// Retried (5xx): the above, and Redis/NATS being unavailable. A malformed envelope is a
// ValidationError (400): the source dead-letters it.
import { randomUUID } from '../../shared/lazy-crypto';
import { EVENT_TYPES, SUBJECTS, type FinishedData, type FlowSettings, type TaskOutcome } from '../../shared/contract';
import { createEmitter, EVENT_IDS } from '../../shared/emit';
import { toTaskEnvelope } from '../../shared/envelope';
import { describeError, RetryableError, TaskCancelledError } from '../../shared/errors';
import type { AttemptClaims, Publisher, StatusStore } from '../../shared/ports';
import type { EventHandler } from '../../shared/runtime/function-app';
import type { RunEnd, RunMetrics } from '../../shared/task-metrics';
import type { TaskTypeSpec } from '../../shared/task-types';
import type { CancelSource } from './cancel-source';
import { createAttemptGate, type Delivery } from './gate';
import type { TaskHandler } from './handlers';
import { createProgressReporter } from './progress';
import { decide, prepare, runHandler, toLastAttempt, toTimeoutMs, type Decision } from './run-step';

export { toLastAttempt, toSecondsText, toTimeoutMs } from './run-step';

export const COMPONENT = 'worker';

export type WorkerDeps = {
  publisher: Publisher;
  status: Pick<StatusStore, 'read'>;
  /** Which delivery runs each attempt (attempt-claims.ts). */
  claims: AttemptClaims;
  cancels: CancelSource;
  /** One per task type the worker runs (built-ins, HTTP and module handlers: type-handlers.ts). */
  handlers: readonly TaskHandler[];
  /** Timeouts, attempt budgets and retry schedules per type (shared/task-types.ts, the registry file). */
  taskTypes: readonly TaskTypeSpec[];
  flow: FlowSettings;
  now: () => number;
  /** Minimum time between two progress statuses (100 % always goes out). */
  progressIntervalMs: number;
  /** Queue wait, run times and retries; absent when metrics are off. */
  metrics?: RunMetrics | undefined;
};

type Times = { startedAtMs: number; finishedAtMs: number };
/** What a run came to: the task is done with (its `finished` is out), or it will be retried. */
type RunResult = { outcome: 'ended' } | { outcome: 'retrying'; error: string; delayMs: number };

function publishFinished(d: Delivery, state: TaskOutcome, result: { output: string; error: string } & Times): Promise<void> {
  const { taskId } = d.task;
  const data: FinishedData = { task: d.task, state, attempts: d.attempt, ...result };
  return d.emit.task(SUBJECTS.results, EVENT_TYPES.finished, EVENT_IDS.finished(taskId, d.attempt), taskId, data);
}

/** Final failure: the dead letter first, `finished` after, as what the gate reads back (the
 * terminal status) follows from `finished`: a crash in between repeats it all, deduplicated. */
async function failForGood(d: Delivery, reason: string, error: string, times: Times): Promise<void> {
  const { taskId } = d.task;
  d.logger.warn({ reason, err: error, attempt: d.attempt }, 'task failed');
  await d.emit.deadLetter({ taskId, reason, attempts: d.attempt, lastError: error, event: d.event });
  await Promise.all([
    d.emit.audit(taskId, 'handler.failed', { attempt: d.attempt, detail: `${reason}: ${error}` }),
    publishFinished(d, 'FAILED', { output: '', error, ...times }),
  ]);
}

/** Publishes what the attempt came to; says whether the task is done with or will retry. */
async function publishDecision(d: Delivery, decision: Decision, times: Times): Promise<RunResult> {
  switch (decision.kind) {
    case 'finished':
      if (decision.state === 'CANCELLED') d.logger.info({ attempt: d.attempt }, 'task cancelled while running');
      await publishFinished(d, decision.state, { output: decision.output, error: decision.error, ...times });
      return { outcome: 'ended' };
    case 'failed':
      await failForGood(d, decision.reason, decision.error, times);
      return { outcome: 'ended' };
    case 'retrying':
      await d.emit.status(d.task.taskId, 'RETRYING', { attempt: d.attempt, message: decision.message });
      return { outcome: 'retrying', error: decision.error, delayMs: decision.delayMs };
  }
}

function toRunEnd(decision: Decision): RunEnd {
  if (decision.kind === 'retrying') return 'retrying';
  if (decision.kind === 'failed') return 'failed';
  return decision.state === 'SUCCEEDED' ? 'succeeded' : decision.state === 'CANCELLED' ? 'cancelled' : 'failed';
}

export function createHandler(deps: WorkerDeps): EventHandler {
  const emitter = createEmitter(deps.publisher, COMPONENT, deps.now);
  const registry = new Map(deps.handlers.map((handler) => [handler.type, handler]));
  const types = new Map(deps.taskTypes.map((spec) => [spec.type, spec]));
  const gate = createAttemptGate({ status: deps.status, claims: deps.claims, newToken: randomUUID });

  /** One run of the attempt: RUNNING, the run step, its outcome published. */
  async function run(d: Delivery, controller: AbortController): Promise<RunResult> {
    const { taskId } = d.task;
    const ready = prepare(d.task, registry);
    if ('error' in ready) {
      const at = deps.now();
      await failForGood(d, 'permanent failure', ready.error, { startedAtMs: at, finishedAtMs: at });
      return { outcome: 'ended' };
    }
    const started = `attempt ${d.attempt} of ${d.last}`;
    // RUNNING goes out as the handler starts, not before: its PubAck is awaited with the
    // outcome's, which JetStream stores after it (one connection keeps the order). A RUNNING that
    // fails to publish fails the delivery, whose retry runs the attempt again (at least once).
    const running = d.emit.step(taskId, [{ state: 'RUNNING', attempt: d.attempt, message: started }], {
      action: 'handler.started',
      attempt: d.attempt,
      detail: `type ${d.task.type}, ${started}`,
    });
    // Awaited below; a rejection meanwhile must not count as unhandled.
    running.catch(() => undefined);
    const progress = createProgressReporter({
      publish: (percent, message) =>
        d.emit.status(taskId, 'RUNNING', { attempt: d.attempt, progress: percent, message: message === undefined ? started : `${started}: ${message}` }),
      onError: (error) => d.logger.warn({ err: describeError(error) }, 'progress not reported'),
      now: deps.now,
      minIntervalMs: deps.progressIntervalMs,
    });
    const startedAtMs = deps.now();
    // The wait of the task, not of a retry (whose delay is the schedule's, not the queue's).
    if (d.attempt === 1) deps.metrics?.waited(d.task, (startedAtMs - Math.max(d.task.createdAtMs, d.task.notBeforeMs)) / 1000);
    const timeoutMs = toTimeoutMs(d.task, deps.taskTypes);
    const outcome = await runHandler(ready.handler, ready.payload, {
      attempt: d.attempt,
      taskId,
      lastAttempt: d.last,
      nowMs: startedAtMs,
      timeoutMs,
      controller,
      reportProgress: progress.report,
    });
    progress.close();
    const ownDelays = types.get(d.task.type)?.retryDelaysMs;
    const schedule = ownDelays ? { retryDelaysMs: ownDelays } : deps.flow;
    const decision = decide(outcome, d.attempt, d.last, schedule);
    const finishedAtMs = deps.now();
    deps.metrics?.ran(d.task, toRunEnd(decision), (finishedAtMs - startedAtMs) / 1000);
    const [, result] = await Promise.all([running, publishDecision(d, decision, { startedAtMs, finishedAtMs })]);
    return result;
  }

  return {
    acceptedTypes: [EVENT_TYPES.scheduled],
    async handle(event, ctx) {
      const task = toTaskEnvelope(event);
      const last = toLastAttempt(task.maxAttempts, ctx.maxDeliver ?? deps.flow.maxDeliver, types.get(task.type)?.maxAttempts);
      const d: Delivery = { task, event, attempt: ctx.attempt, last, emit: emitter.causedBy(event), logger: ctx.logger };
      const controller = new AbortController();
      // Watch before the gate reads the status: a cancel landing in between is then either seen
      // in the status (written before the gateway publishes) or delivered to this watcher.
      const unwatch = deps.cancels.watch(task.taskId, () => controller.abort(new TaskCancelledError('task was cancelled while running')));
      try {
        const admission = await gate.admit(d);
        if (admission.kind === 'exhausted') {
          // An earlier delivery ended without an outcome (its worker died): no attempt is left.
          const at = deps.now();
          const error = `attempt ${d.attempt} exceeds the limit of ${last} attempts; the last attempt ended without an outcome`;
          await failForGood(d, `failed after ${last} attempts`, error, { startedAtMs: at, finishedAtMs: at });
        } else if (admission.kind === 'run') {
          const result = await gate.hold(d, admission.token, () => run(d, controller));
          if (result.outcome === 'retrying') throw new RetryableError(result.error, { retryAfterMs: result.delayMs });
        }
      } finally {
        unwatch();
      }
    },
  };
}
