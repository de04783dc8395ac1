// Types for a module handler: a task type whose code the worker loads at start-up
// (TM_TASK_TYPES_FILE `module: <path>`, DESIGN §9). Import it to get type checking:
//
//   import { defineTaskHandler, PermanentTaskError } from '<this package>/handler';
//   export default defineTaskHandler<{ title: string }, { slug: string }>({
//     async handle(payload, { signal, attempt, progress }) { … return { slug }; },
//   });
//
// Self-contained and erasable TypeScript only (no imports, no enums), so Node's type stripping
// can load it as it is beside a module handler written in TypeScript.

export type TaskHandlerContext = {
  /** Fires when the attempt times out or the task is cancelled: stop promptly. */
  signal: AbortSignal;
  /** This attempt's number, from 1. */
  attempt: number;
  /** Reports progress 0..100 (shown live on StreamStatus); best effort, never rejects. */
  progress(percent: number, message?: string): Promise<void>;
};

export type TaskHandlerModule<Payload = unknown, Output = unknown> = {
  /** Returns the task's output (any JSON value). Throwing retries the task (while attempts are
   * left), throwing a PermanentTaskError fails it at once. */
  handle(payload: Payload, context: TaskHandlerContext): Output | Promise<Output>;
};

/** Types a module handler; returns it unchanged. */
export function defineTaskHandler<Payload = unknown, Output = unknown>(handler: TaskHandlerModule<Payload, Output>): TaskHandlerModule<Payload, Output> {
  return handler;
}

/** A failure another attempt cannot fix (bad input the schema let through, a missing record):
 * the task fails at once, with a dead letter, without retries. */
export class PermanentTaskError extends Error {
  readonly retryable = false;
  constructor(message: string) {
    super(message);
    this.name = 'PermanentTaskError';
  }
}
