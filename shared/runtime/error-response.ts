// Error → HTTP answer, written once for every HTTP face of a stage (the CloudEvents runtime, the
// enricher, extra routes): statuses as Knative's data plane reads them (shared/errors.ts).
import { describeError, isTaskmanagerError, RetryableError } from '../errors';

/** A request the server refuses before any handler runs, with the 4xx status it has earned. */
export class RequestError extends Error {
  readonly status: number;
  constructor(status: number, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RequestError';
    this.status = status;
  }
}

/** `retryAfterMs`: the wait the source should make before redelivering (RetryableError's). */
export type ErrorResponse = { status: number; code: string; message: string; retryAfterMs?: number };

export function toErrorResponse(error: unknown): ErrorResponse {
  if (isTaskmanagerError(error)) {
    const retryAfterMs = error instanceof RetryableError ? error.retryAfterMs : undefined;
    return { status: error.httpStatus, code: error.code, message: error.message, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  }
  const status = (error as { status?: unknown } | null | undefined)?.status;
  if (status === 413) return { status: 413, code: 'PAYLOAD_TOO_LARGE', message: describeError(error) };
  return { status: 500, code: 'INTERNAL', message: describeError(error) };
}

/**
 * Errors of reading the request (a RequestError with a 4xx `status`: an unsupported
 * content-encoding is 415, a corrupt gzip body or an aborted upload 400, a path that is not valid
 * percent-encoding 400) are the request's fault: answered with their own status so the source
 * does not retry them, never 500. Only used before the handler runs, so a handler error that
 * happens to carry a `status` cannot turn a retryable failure into a 4xx.
 */
export function toRequestErrorResponse(error: unknown): ErrorResponse {
  const status = (error as { status?: unknown } | null | undefined)?.status;
  if (typeof status === 'number' && status >= 400 && status < 500 && status !== 413) {
    return { status, code: 'BAD_REQUEST', message: describeError(error) };
  }
  return toErrorResponse(error);
}
