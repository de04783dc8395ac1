// Failures → HTTP answers of the dashboard's JSON API. The gateway's gRPC status is passed on
// as the HTTP status that means the same thing, with the gateway's own message: an
// UNAUTHENTICATED call is a 401 that says a key is needed, PERMISSION_DENIED a 403, a bad
// argument the gateway names a 400. Pure.
import { TaskManagerClientError } from '../client/errors';
import { RequestError } from '../shared/runtime/error-response';
import { BadRequest } from './requests';

export type HttpError = { status: number; body: { error: string; message: string } };

const STATUS_OF_CODE: Readonly<Record<string, number>> = {
  INVALID_ARGUMENT: 400,
  OUT_OF_RANGE: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  FAILED_PRECONDITION: 409,
  ABORTED: 409,
  RESOURCE_EXHAUSTED: 429,
  CANCELLED: 499,
  UNIMPLEMENTED: 501,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
};

export function toHttpError(error: unknown): HttpError {
  if (error instanceof BadRequest) {
    return { status: error.status, body: { error: error.status === 401 ? 'UNAUTHENTICATED' : 'BAD_REQUEST', message: error.message } };
  }
  if (error instanceof RequestError) {
    // Reading the body failed: too large (413), an encoding we cannot undo (415), corrupt (400).
    return { status: error.status, body: { error: error.status === 413 ? 'PAYLOAD_TOO_LARGE' : 'BAD_REQUEST', message: error.message } };
  }
  if (error instanceof TaskManagerClientError) {
    const status = STATUS_OF_CODE[error.code] ?? 502;
    const message =
      error.code === 'UNAUTHENTICATED'
        ? `the gateway wants an API key: ${error.details} (enter your key in the dashboard; it is sent as "authorization: Bearer <key>")`
        : error.code === 'UNAVAILABLE'
          ? `the gateway cannot be reached or cannot serve: ${error.details}`
          : error.details;
    return { status, body: { error: error.code, message } };
  }
  return { status: 500, body: { error: 'INTERNAL', message: (error as Error)?.message ?? String(error) } };
}
