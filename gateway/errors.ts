// The one place where errors become gRPC statuses (docs/design.md §3). Typed errors map by class;
// connection failures of Redis or NATS that arrive untyped map to UNAVAILABLE, so a client
// retries instead of treating an outage as a bug; anything else is INTERNAL and logged.
import { status, type StatusObject } from '@grpc/grpc-js';
import {
  BacklogFullError,
  DependencyUnavailableError,
  NotFoundError,
  TaskmanagerError,
  UnauthenticatedError,
  ValidationError,
  describeError,
} from '../shared/errors';
import type { Logger } from '../shared/logger';

/** Cancelling a task that already reached a terminal state. */
export class FailedPreconditionError extends TaskmanagerError {
  constructor(message: string) {
    super('CONFLICT', message, { retryable: false, httpStatus: 409 });
  }
}

/** An authenticated caller asking for what its tenant may not do (a queue action of a non-operator). */
export class PermissionDeniedError extends TaskmanagerError {
  constructor(message: string) {
    super('FORBIDDEN', message, { retryable: false, httpStatus: 403 });
  }
}

/** Redis client and nats.js errors that mean "the server is not reachable right now". */
const CONNECTION_ERROR_NAMES = new Set([
  'AbortError',
  'ConnectionError',
  'ClosedConnectionError',
  'DrainingConnectionError',
  'TimeoutError',
  'NoRespondersError',
  'RequestError',
]);
const CONNECTION_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTCONN']);
const CONNECTION_MESSAGES = /connection is closed|stream isn't writeable|connection closed|not connected/i;
/** Redis replies that say "not now" rather than "never". */
const UNAVAILABLE_REPLIES = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|READONLY)\b/;
const OUT_OF_MEMORY_REPLY = /^OOM\b/;

export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return (
    CONNECTION_ERROR_NAMES.has(error.name) ||
    (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) ||
    CONNECTION_MESSAGES.test(error.message) ||
    (error.name === 'ReplyError' && UNAVAILABLE_REPLIES.test(error.message))
  );
}

export type GrpcError = Pick<StatusObject, 'code' | 'details'>;

export function toGrpcError(error: unknown, logger: Logger): GrpcError {
  if (error instanceof ValidationError) return { code: status.INVALID_ARGUMENT, details: error.message };
  if (error instanceof UnauthenticatedError) return { code: status.UNAUTHENTICATED, details: error.message };
  if (error instanceof NotFoundError) return { code: status.NOT_FOUND, details: error.message };
  if (error instanceof FailedPreconditionError) return { code: status.FAILED_PRECONDITION, details: error.message };
  if (error instanceof PermissionDeniedError) return { code: status.PERMISSION_DENIED, details: error.message };
  if (error instanceof BacklogFullError) {
    logger.warn({ err: error.message }, 'backlog full: refusing new work');
    return { code: status.RESOURCE_EXHAUSTED, details: `task backlog is full, try again later: ${error.message}` };
  }
  if (error instanceof DependencyUnavailableError || isConnectionError(error)) {
    logger.warn({ err: describeError(error) }, 'dependency unavailable');
    return { code: status.UNAVAILABLE, details: `service unavailable, try again: ${describeError(error)}` };
  }
  if (error instanceof Error && error.name === 'ReplyError' && OUT_OF_MEMORY_REPLY.test(error.message)) {
    logger.error({ err: error.message }, 'redis is out of memory');
    return { code: status.RESOURCE_EXHAUSTED, details: 'task store is full, try again later' };
  }
  logger.error({ err: error instanceof Error ? { message: error.message, stack: error.stack } : String(error) }, 'internal error');
  return { code: status.INTERNAL, details: 'internal error' };
}
