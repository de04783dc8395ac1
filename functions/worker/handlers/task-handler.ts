// What a task type's handler looks like. A handler is plain code over its payload: it knows
// nothing of events, retries or Redis. The worker gives it an AbortSignal (fired on timeout or
// cancel) and a way to report progress, and decides what its outcome means for the task.
import { PermanentError } from '../../../shared/errors';

export type TaskRunContext = {
  /** Fires when the attempt times out or the task is cancelled; handlers should stop promptly. */
  signal: AbortSignal;
  /** 1-based attempt number of this execution. */
  attempt: number;
  /** Reports progress 0..100 (with an optional line of text); best effort, never rejects. */
  reportProgress(percent: number, message?: string): Promise<void>;
  /** The task this attempt runs, as an HTTP handler is told it (DESIGN §9). */
  task: { id: string; lastAttempt: number; deadlineMs: number };
};

export type TaskHandler = {
  readonly type: string;
  /** Returns the task's output (any JSON value). Throw RetryableError to be retried, PermanentError not to. */
  run(payload: unknown, ctx: TaskRunContext): Promise<unknown>;
};

/**
 * The payload as an object. Ingest has already checked it against the type's schema, so a bad
 * payload here can only be a bug or a hand-crafted event: it will not get better on retry.
 */
export function toPayloadObject(type: string, payload: unknown): Record<string, unknown> {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new PermanentError(`${type} payload must be a JSON object`);
  }
  return payload as Record<string, unknown>;
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it fires. */
export function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(toAbortError(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(toAbortError(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function toAbortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted');
}
