// The worker's run step: runs one attempt of a task's handler and decides what the attempt came
// to. Pure but for the handler's own work: it reads no store and publishes nothing (the handler,
// handler.ts, publishes what `decide` says), so every rule of attempts, timeouts and retries is
// a plain function with plain tests.
import { retryDelayMs, type TaskEnvelope, type TaskOutcome } from '../../shared/contract';
import { describeError, isTaskmanagerError, PermanentError, TaskCancelledError, TaskTimedOutError } from '../../shared/errors';
import type { TaskTypeSpec } from '../../shared/task-types';
import type { TaskHandler } from './handlers';

/** setTimeout fires at once for delays above 2^31-1 ms: longer timeouts are capped there. */
const MAX_TIMER_MS = 2_147_483_647;
/** Timeout of a type the registry has no entry for (only reachable with a custom handler list). */
const FALLBACK_TIMEOUT_MS = 60_000;

/** The last attempt the worker makes: the task's own limit, never beyond its type's (when the
 * worker knows the type) nor the source's. */
export function toLastAttempt(maxAttempts: number, maxDeliver: number, typeMaxAttempts = Infinity): number {
  const limit = Math.min(maxDeliver, typeMaxAttempts);
  return Number.isInteger(maxAttempts) && maxAttempts > 0 ? Math.min(maxAttempts, limit) : limit;
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

/** How one run of the handler ended. */
export type Outcome =
  | { kind: 'succeeded'; output: string }
  | { kind: 'cancelled'; error: string }
  | { kind: 'permanent'; error: string }
  | { kind: 'retryable'; error: string };

export function toOutcome(error: unknown): Outcome {
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

/** The handler of the task's type and its parsed payload, or the permanent error that stops it. */
export function prepare(task: TaskEnvelope, registry: ReadonlyMap<string, TaskHandler>): { handler: TaskHandler; payload: unknown } | { error: string } {
  const handler = registry.get(task.type);
  if (!handler) return { error: `no handler for task type "${task.type}" (known: ${[...registry.keys()].join(', ')})` };
  try {
    return { handler, payload: JSON.parse(task.payload) };
  } catch (error) {
    return { error: `payload is not valid JSON: ${describeError(error)}` };
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

export type RunOptions = {
  attempt: number;
  /** The task's id and last attempt, for handlers that pass them on (HTTP handlers). */
  taskId: string;
  lastAttempt: number;
  /** Epoch ms at start. */
  nowMs: number;
  timeoutMs: number;
  /** Fires on cancel; the run adds its own timeout to it. */
  controller: AbortController;
  reportProgress: (percent: number, message?: string) => Promise<void>;
};

/** Runs the handler until it settles, its timeout fires or the task is cancelled. */
export async function runHandler(handler: TaskHandler, payload: unknown, options: RunOptions): Promise<Outcome> {
  const { controller } = options;
  const timer = setTimeout(() => controller.abort(new TaskTimedOutError(options.timeoutMs)), options.timeoutMs);
  try {
    // The race gives up on a handler that ignores its signal; its late result is dropped.
    const output = await Promise.race([
      handler.run(payload, {
        signal: controller.signal,
        attempt: options.attempt,
        reportProgress: options.reportProgress,
        task: { id: options.taskId, lastAttempt: options.lastAttempt, deadlineMs: options.nowMs + options.timeoutMs },
      }),
      whenAborted(controller.signal),
    ]);
    return { kind: 'succeeded', output: toOutputJson(output) };
  } catch (error) {
    // After an abort the handler's own error is usually just "aborted": the reason says why.
    return toOutcome(controller.signal.aborted ? controller.signal.reason : error);
  } finally {
    clearTimeout(timer);
  }
}

/** What the worker publishes for an attempt's outcome. */
export type Decision =
  /** `finished` with this state: the result-store stores it and reports it. */
  | { kind: 'finished'; state: TaskOutcome; output: string; error: string }
  /** For good: a dead letter, then `finished` FAILED. */
  | { kind: 'failed'; reason: string; error: string }
  /** Status RETRYING with `message`; the delivery fails with `error`, so the source retries
   * after `delayMs` (the type's schedule, else the deployment's). */
  | { kind: 'retrying'; message: string; error: string; delayMs: number };

/** `schedule`: the task type's retry delays when it has its own, else the flow settings. */
export function decide(outcome: Outcome, attempt: number, last: number, schedule: { retryDelaysMs: readonly number[] }): Decision {
  switch (outcome.kind) {
    case 'succeeded':
      return { kind: 'finished', state: 'SUCCEEDED', output: outcome.output, error: '' };
    case 'cancelled':
      return { kind: 'finished', state: 'CANCELLED', output: '', error: outcome.error };
    case 'permanent':
      return { kind: 'failed', reason: 'permanent failure', error: outcome.error };
    case 'retryable': {
      if (attempt >= last) return { kind: 'failed', reason: `failed after ${attempt} attempts`, error: outcome.error };
      const delayMs = retryDelayMs(schedule, attempt);
      return {
        kind: 'retrying',
        message: `${outcome.error}; retrying in ${toSecondsText(delayMs)}`,
        error: `attempt ${attempt} of ${last} failed: ${outcome.error}`,
        delayMs,
      };
    }
  }
}
