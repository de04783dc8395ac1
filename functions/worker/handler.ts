// worker: takes `scheduled` (a TaskEnvelope) and runs the task's handler; emits `finished` on
// tasks.results. It never reports a terminal status itself: the result-store does, after it has
// persisted the result (docs/design.md §5.5).
// - A task that is already terminal (cancelled, or finished by an earlier delivery) is acked
//   and skipped without running.
// - One run at a time, each attempt once (attempt-claims.ts): a run holds the task with a lease.
//   Another delivery (a copy re-published outside JetStream's duplicate window, or a redelivery
//   after a source crash, which can repeat the delivery count) waits while that run lives, then
//   follows the outcome: the task ended → acked and skipped; this attempt failed with attempts
//   left → a RetryableError, so the next attempt comes even if the run's own delivery died with
//   its source; no outcome (the run died, its lease lapsed) → it runs the task itself.
// - Each execution: audit `handler.started` and status RUNNING (attempt n), then the handler
//   runs with an AbortSignal that fires on timeout (metadata.timeout_ms, else the type's
//   default) or on cancel. Progress goes out as throttled RUNNING statuses.
// - Success → `finished` SUCCEEDED. Cancelled → `finished` CANCELLED.
// - A retryable failure (RetryableError, a timeout, any unexpected error) with attempts left →
//   status RETRYING, then a RetryableError (500): the source redelivers after the contract's
//   delay. On the last attempt (min(max_attempts, MaxDeliver)), or for a permanent error →
//   dead letter, audit `handler.failed`, `finished` FAILED, and the delivery is acked.
// Retried (5xx): the above, and Redis/NATS being unavailable. A malformed envelope is a
// ValidationError (400): the source dead-letters it.
import { randomUUID } from 'node:crypto';
import {
  EVENT_TYPES,
  isTerminal,
  retryDelayMs,
  SUBJECTS,
  type FinishedData,
  type FlowSettings,
  type StoredStatus,
  type TaskEnvelope,
  type TaskOutcome,
} from '../../shared/contract';
import { createEmitter, EVENT_IDS, type Emitter } from '../../shared/emit';
import { toTaskEnvelope } from '../../shared/envelope';
import {
  describeError,
  isTaskmanagerError,
  PermanentError,
  RetryableError,
  TaskCancelledError,
  TaskTimedOutError,
} from '../../shared/errors';
import type { WireEvent } from '../../shared/events';
import type { Publisher } from '../../shared/nats';
import { toUnavailable } from '../../shared/redis';
import type { EventHandler, HandlerContext } from '../../shared/runtime/function-app';
import type { TaskTypeSpec } from '../../shared/task-types';
import type { CancelSource } from './cancel-source';
import type { TaskHandler } from './handlers';
import { createProgressReporter } from './progress';
import type { AttemptClaims, AttemptOutcome } from './attempt-claims';

export const COMPONENT = 'worker';

/** setTimeout fires at once for delays above 2^31-1 ms: longer timeouts are capped there. */
const MAX_TIMER_MS = 2_147_483_647;
/** Timeout of a type the registry has no entry for (only reachable with a custom handler list). */
const FALLBACK_TIMEOUT_MS = 60_000;

export type WorkerDeps = {
  publisher: Publisher;
  /** The task's current status (shared/status.ts readStatus over Redis in production). */
  readStatus: (taskId: string) => Promise<StoredStatus | undefined>;
  /** Which delivery runs each attempt (attempt-claims.ts). */
  claims: AttemptClaims;
  cancels: CancelSource;
  handlers: readonly TaskHandler[];
  /** Default timeouts per type (shared/task-types.ts). */
  taskTypes: readonly TaskTypeSpec[];
  flow: FlowSettings;
  now: () => number;
  /** Minimum time between two progress statuses (100 % always goes out). */
  progressIntervalMs: number;
};

/** The last attempt the worker makes: the task's own limit, never beyond the source's. */
export function toLastAttempt(maxAttempts: number, maxDeliver: number): number {
  return Number.isInteger(maxAttempts) && maxAttempts > 0 ? Math.min(maxAttempts, maxDeliver) : maxDeliver;
}

/** metadata.timeout_ms when it is a positive integer, else the type's default. */
export function toTimeoutMs(task: TaskEnvelope, taskTypes: readonly TaskTypeSpec[]): number {
  const override = task.metadata.timeout_ms;
  const parsed = typeof override === 'string' && /^\d+$/.test(override.trim()) ? Number(override.trim()) : 0;
  const timeoutMs = parsed > 0 ? parsed : (taskTypes.find((spec) => spec.type === task.type)?.defaultTimeoutMs ?? FALLBACK_TIMEOUT_MS);
  return Math.min(timeoutMs, MAX_TIMER_MS);
}

/** "1s", "0.5s", "60s": the wait before the next attempt, as a status message says it. */
export function toSecondsText(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))}s`;
}

type Outcome =
  | { kind: 'succeeded'; output: string }
  | { kind: 'cancelled'; error: string }
  | { kind: 'permanent'; error: string }
  | { kind: 'retryable'; error: string };

function toOutcome(error: unknown): Outcome {
  if (error instanceof TaskCancelledError) return { kind: 'cancelled', error: error.message };
  if (isTaskmanagerError(error) && !error.retryable) return { kind: 'permanent', error: error.message };
  return { kind: 'retryable', error: describeError(error) };
}

function toOutputJson(output: unknown): string {
  try {
    return JSON.stringify(output) ?? 'null';
  } catch (error) {
    throw new PermanentError(`task output is not JSON-serialisable: ${describeError(error)}`, { cause: error });
  }
}

/** Rejects with the signal's reason when it fires; never settles otherwise. */
function whenAborted(signal: AbortSignal): Promise<never> {
  const aborted = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
  aborted.catch(() => undefined);
  return aborted;
}

/** What a run came to: the task is done with (its `finished` is out), or it will be retried. */
type AttemptResult = { outcome: Extract<AttemptOutcome, 'ended'> } | { outcome: 'retrying'; error: string };

type Attempt = {
  task: TaskEnvelope;
  event: WireEvent;
  attempt: number;
  last: number;
  emit: Emitter;
  ctx: HandlerContext;
};

export function createHandler(deps: WorkerDeps): EventHandler {
  const emitter = createEmitter(deps.publisher, COMPONENT, deps.now);
  const registry = new Map(deps.handlers.map((handler) => [handler.type, handler]));

  async function publishFinished(
    run: Attempt,
    state: TaskOutcome,
    result: { output?: string; error?: string; startedAtMs: number; finishedAtMs: number },
  ): Promise<void> {
    const data: FinishedData = {
      task: run.task,
      state,
      output: result.output ?? '',
      error: result.error ?? '',
      attempts: run.attempt,
      startedAtMs: result.startedAtMs,
      finishedAtMs: result.finishedAtMs,
    };
    const { taskId } = run.task;
    await run.emit.task(SUBJECTS.results, EVENT_TYPES.finished, EVENT_IDS.finished(taskId, run.attempt), taskId, data);
  }

  /** Final failure: the dead letter first, `finished` last, as what the skip check reads back
   * (the terminal status) follows from `finished`: a crash in between repeats it all, deduped. */
  async function failForGood(run: Attempt, reason: string, error: string, times: { startedAtMs: number; finishedAtMs: number }) {
    const { taskId } = run.task;
    run.ctx.logger.warn({ reason, err: error, attempt: run.attempt }, 'task failed');
    await run.emit.deadLetter({ taskId, reason, attempts: run.attempt, lastError: error, event: run.event });
    await run.emit.audit(taskId, 'handler.failed', { attempt: run.attempt, detail: `${reason}: ${error}` });
    await publishFinished(run, 'FAILED', { error, ...times });
  }

  /** Runs the handler until it settles, the timeout fires or the task is cancelled. */
  async function execute(run: Attempt, handler: TaskHandler, payload: unknown, controller: AbortController): Promise<Outcome> {
    const { taskId } = run.task;
    const timeoutMs = toTimeoutMs(run.task, deps.taskTypes);
    const timer = setTimeout(() => controller.abort(new TaskTimedOutError(timeoutMs)), timeoutMs);
    const progress = createProgressReporter({
      publish: (percent) => run.emit.status(taskId, 'RUNNING', { attempt: run.attempt, progress: percent, message: `attempt ${run.attempt} of ${run.last}` }),
      onError: (error) => run.ctx.logger.warn({ err: describeError(error) }, 'progress not reported'),
      now: deps.now,
      minIntervalMs: deps.progressIntervalMs,
    });
    try {
      // The race gives up on a handler that ignores its signal; its late result is dropped.
      const output = await Promise.race([
        handler.run(payload, { signal: controller.signal, attempt: run.attempt, reportProgress: progress.report }),
        whenAborted(controller.signal),
      ]);
      return { kind: 'succeeded', output: toOutputJson(output) };
    } catch (error) {
      // After an abort the handler's own error is usually just "aborted": the reason says why.
      return toOutcome(controller.signal.aborted ? controller.signal.reason : error);
    } finally {
      clearTimeout(timer);
      progress.close();
    }
  }

  /** Runs the attempt and publishes its outcome; says whether the task is done with or will retry. */
  async function runAttempt(run: Attempt, controller: AbortController): Promise<AttemptResult> {
    const { task, attempt, last } = run;
    const { taskId } = task;

    const handler = registry.get(task.type);
    let payload: unknown;
    try {
      if (!handler) throw new PermanentError(`no handler for task type "${task.type}" (known: ${[...registry.keys()].join(', ')})`);
      try {
        payload = JSON.parse(task.payload);
      } catch (error) {
        throw new PermanentError(`payload is not valid JSON: ${describeError(error)}`);
      }
    } catch (error) {
      const at = deps.now();
      await failForGood(run, 'permanent failure', describeError(error), { startedAtMs: at, finishedAtMs: at });
      return { outcome: 'ended' };
    }

    await run.emit.audit(taskId, 'handler.started', { attempt, detail: `type ${task.type}, attempt ${attempt} of ${last}` });
    await run.emit.status(taskId, 'RUNNING', { attempt, message: `attempt ${attempt} of ${last}` });
    const startedAtMs = deps.now();
    const outcome = await execute(run, handler, payload, controller);
    const times = { startedAtMs, finishedAtMs: deps.now() };

    switch (outcome.kind) {
      case 'succeeded':
        await publishFinished(run, 'SUCCEEDED', { output: outcome.output, ...times });
        return { outcome: 'ended' };
      case 'cancelled':
        run.ctx.logger.info({ attempt }, 'task cancelled while running');
        await publishFinished(run, 'CANCELLED', { error: outcome.error, ...times });
        return { outcome: 'ended' };
      case 'permanent':
        await failForGood(run, 'permanent failure', outcome.error, times);
        return { outcome: 'ended' };
      case 'retryable': {
        if (attempt >= last) {
          await failForGood(run, `failed after ${attempt} attempts`, outcome.error, times);
          return { outcome: 'ended' };
        }
        const message = `${outcome.error}; retrying in ${toSecondsText(retryDelayMs(deps.flow, attempt))}`;
        await run.emit.status(taskId, 'RETRYING', { attempt, message });
        return { outcome: 'retrying', error: `attempt ${attempt} of ${last} failed: ${outcome.error}` };
      }
    }
  }

  /** Runs the attempt as the holder of the task: renews the lease meanwhile, records the
   * outcome once it is published, and lets go if the run fails before publishing one. */
  async function runClaimed(run: Attempt, controller: AbortController, token: string): Promise<void> {
    const { claims } = deps;
    const eventId = run.event.id;
    const heartbeat = setInterval(() => {
      claims.renew(eventId, run.attempt, token).catch((error: unknown) => {
        run.ctx.logger.warn({ err: describeError(error) }, 'attempt lease not renewed');
      });
    }, Math.max(100, Math.floor(claims.leaseMs / 3)));
    let result: AttemptResult;
    try {
      result = await runAttempt(run, controller);
    } catch (error) {
      // No outcome was published (NATS or Redis unavailable): a redelivery may run it again.
      await claims.release(eventId, run.attempt, token).catch(() => undefined);
      throw error;
    } finally {
      clearInterval(heartbeat);
    }
    await claims.settle(eventId, run.attempt, result.outcome, token).catch((error: unknown) => {
      // The outcome is out; only a redelivery racing the lapsed lease could run it again.
      run.ctx.logger.warn({ err: describeError(error) }, 'attempt outcome not recorded');
    });
    if (result.outcome === 'retrying') throw new RetryableError(result.error);
  }

  /** Takes the task for this delivery's run; when another run holds it, or the task or this
   * attempt already has an outcome, waits while a run lives, then follows the outcome. True when
   * this delivery runs the attempt (nobody held it, or the holder died or let go). */
  async function acquire(run: Attempt, token: string): Promise<boolean> {
    const { claims } = deps;
    const { taskId } = run.task;
    const pollMs = Math.max(50, Math.min(1_000, Math.floor(claims.leaseMs / 3)));
    const read = () =>
      claims.read(run.event.id, run.attempt).catch((error: unknown) => {
        throw toUnavailable(error, `reading the claim of attempt ${run.attempt} of ${taskId}`);
      });
    for (;;) {
      const taken = await claims.take(run.event.id, run.attempt, token).catch((error: unknown) => {
        throw toUnavailable(error, `claiming attempt ${run.attempt} of ${taskId}`);
      });
      if (taken) return true;
      let state = await read();
      while (state === 'running') {
        await new Promise((resolve) => setTimeout(resolve, pollMs));
        state = await read();
      }
      // Nothing holds it any more (the holder died or let go): take it.
      if (state === undefined) continue;
      if (state === 'retrying') {
        throw new RetryableError(`attempt ${run.attempt} of ${run.last} already failed in another delivery of event ${run.event.id}`);
      }
      run.ctx.logger.info({ attempt: run.attempt }, 'another delivery of this event ended the task: skipped');
      await run.emit.audit(taskId, 'skipped.duplicate', { attempt: run.attempt, detail: `event ${run.event.id} is already handled for attempt ${run.attempt}` });
      return false;
    }
  }

  return {
    acceptedTypes: [EVENT_TYPES.scheduled],
    async handle(event, ctx) {
      const task = toTaskEnvelope(event);
      const { taskId } = task;
      const attempt = ctx.attempt;
      const last = toLastAttempt(task.maxAttempts, ctx.maxDeliver ?? deps.flow.maxDeliver);
      const emit = emitter.causedBy(event);
      const run: Attempt = { task, event, attempt, last, emit, ctx };

      const controller = new AbortController();
      // Watch before reading the status: a cancel landing in between is then either seen in
      // the status (written before the gateway publishes) or delivered to this watcher.
      const unwatch = deps.cancels.watch(taskId, () => controller.abort(new TaskCancelledError('task was cancelled while running')));
      try {
        const current = await deps.readStatus(taskId).catch((error: unknown) => {
          throw toUnavailable(error, `reading the status of ${taskId}`);
        });
        if (current && isTerminal(current.state)) {
          ctx.logger.info({ state: current.state }, 'task already terminal: skipped');
          await emit.audit(taskId, `skipped.${current.state.toLowerCase()}`, { attempt, detail: `task is ${current.state}` });
          return;
        }
        if (attempt > last) {
          // An earlier delivery ended without an outcome (its worker died): no attempt is left.
          const at = deps.now();
          const error = `attempt ${attempt} exceeds the limit of ${last} attempts; the last attempt ended without an outcome`;
          await failForGood(run, `failed after ${last} attempts`, error, { startedAtMs: at, finishedAtMs: at });
          return;
        }
        const token = randomUUID();
        if (await acquire(run, token)) await runClaimed(run, controller, token);
      } finally {
        unwatch();
      }
    },
  };
}
