// Typed errors with explicit retryability. Every error a stage can raise on purpose is one of
// these; the function runtime maps them to HTTP statuses the way Knative's data plane reads them
// (4xx other than 404/408/409/429: not retried; 5xx: retried), and the source follows suit.

export type ErrorCode =
  | 'VALIDATION_FAILED'
  | 'UNSUPPORTED_EVENT'
  | 'PAYLOAD_TOO_LARGE'
  | 'DEPENDENCY_UNAVAILABLE'
  | 'BACKLOG_FULL'
  | 'RETRYABLE_FAILURE'
  | 'PERMANENT_FAILURE'
  | 'NOT_FOUND'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'CONFLICT'
  | 'CONFIG_INVALID'
  | 'CANCELLED'
  | 'TIMED_OUT';

export class TaskmanagerError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly httpStatus: number;

  constructor(
    code: ErrorCode,
    message: string,
    options: { retryable: boolean; httpStatus: number; cause?: unknown },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable;
    this.httpStatus = options.httpStatus;
  }
}

/** Input that will never become valid by retrying: a bad field, a bad event. */
export class ValidationError extends TaskmanagerError {
  readonly field: string | undefined;
  constructor(message: string, options: { field?: string; cause?: unknown } = {}) {
    super('VALIDATION_FAILED', message, { retryable: false, httpStatus: 400, cause: options.cause });
    this.field = options.field;
  }
}

export class UnsupportedEventError extends TaskmanagerError {
  constructor(message: string) {
    super('UNSUPPORTED_EVENT', message, { retryable: false, httpStatus: 400 });
  }
}

export class PayloadTooLargeError extends TaskmanagerError {
  constructor(message: string) {
    super('PAYLOAD_TOO_LARGE', message, { retryable: false, httpStatus: 413 });
  }
}

/** Redis, NATS or the enricher could not be reached: try again later. */
export class DependencyUnavailableError extends TaskmanagerError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('DEPENDENCY_UNAVAILABLE', message, { retryable: true, httpStatus: 503, cause: options.cause });
  }
}

/** The TASKS stream refuses new messages (discard new): the gateway answers RESOURCE_EXHAUSTED. */
export class BacklogFullError extends TaskmanagerError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('BACKLOG_FULL', message, { retryable: true, httpStatus: 429, cause: options.cause });
  }
}

/** A task handler failed in a way that another attempt may fix. */
export class RetryableError extends TaskmanagerError {
  /** How long the source waits before the next delivery; undefined = its own schedule. The
   * worker sets it from the task type's retry schedule (TM_TASK_TYPES_FILE). */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options: { cause?: unknown; retryAfterMs?: number } = {}) {
    super('RETRYABLE_FAILURE', message, { retryable: true, httpStatus: 500, cause: options.cause });
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** A task handler failed for good (BullMQ's UnrecoverableError): no more attempts. */
export class PermanentError extends TaskmanagerError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('PERMANENT_FAILURE', message, { retryable: false, httpStatus: 422, cause: options.cause });
  }
}

export class NotFoundError extends TaskmanagerError {
  constructor(message: string) {
    super('NOT_FOUND', message, { retryable: false, httpStatus: 404 });
  }
}

/** A caller without a valid API key. The message says what is wrong, never echoing the key. */
export class UnauthenticatedError extends TaskmanagerError {
  constructor(message: string) {
    super('UNAUTHENTICATED', message, { retryable: false, httpStatus: 401 });
  }
}

export class ConfigError extends TaskmanagerError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('CONFIG_INVALID', `invalid configuration:\n- ${problems.join('\n- ')}`, {
      retryable: false,
      httpStatus: 500,
    });
    this.problems = problems;
  }
}

export class TaskCancelledError extends TaskmanagerError {
  constructor(message = 'task was cancelled') {
    super('CANCELLED', message, { retryable: false, httpStatus: 200 });
  }
}

export class TaskTimedOutError extends TaskmanagerError {
  constructor(timeoutMs: number) {
    super('TIMED_OUT', `task timed out after ${timeoutMs} ms`, { retryable: true, httpStatus: 504 });
  }
}

export function isTaskmanagerError(error: unknown): error is TaskmanagerError {
  return error instanceof TaskmanagerError;
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
