import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { BacklogFullError, DependencyUnavailableError, NotFoundError, ValidationError } from '../shared/errors';
import { createLogger } from '../shared/logger';
import { FailedPreconditionError, isConnectionError, PermissionDeniedError, toGrpcError } from './errors';

const logger = createLogger('errors-test', 'silent');

function named(name: string, message: string, code?: string): Error {
  const error = new Error(message);
  error.name = name;
  if (code) Object.assign(error, { code });
  return error;
}

describe('toGrpcError', () => {
  it.each([
    [new ValidationError('payload: is not valid JSON', { field: 'payload' }), status.INVALID_ARGUMENT, 'payload: is not valid JSON'],
    [new NotFoundError('task x not found'), status.NOT_FOUND, 'task x not found'],
    [new FailedPreconditionError('task x is already SUCCEEDED'), status.FAILED_PRECONDITION, 'task x is already SUCCEEDED'],
    [new PermissionDeniedError('tenant acme may not pause queues'), status.PERMISSION_DENIED, 'tenant acme may not pause queues'],
    [new BacklogFullError('maximum messages exceeded'), status.RESOURCE_EXHAUSTED, 'backlog is full'],
    [new DependencyUnavailableError('nats is not connected'), status.UNAVAILABLE, 'nats is not connected'],
    [new Error("Stream isn't writeable and enableOfflineQueue options is false"), status.UNAVAILABLE, 'writeable'],
    [named('Error', 'connect ECONNREFUSED 127.0.0.1:6379', 'ECONNREFUSED'), status.UNAVAILABLE, 'ECONNREFUSED'],
    [named('ReplyError', 'LOADING Redis is loading the dataset in memory'), status.UNAVAILABLE, 'LOADING'],
    [named('ReplyError', "OOM command not allowed when used memory > 'maxmemory'."), status.RESOURCE_EXHAUSTED, 'task store is full'],
    [named('ClosedConnectionError', 'closed connection'), status.UNAVAILABLE, 'closed connection'],
  ])('maps %s', (error, code, detail) => {
    const mapped = toGrpcError(error, logger);
    expect(mapped.code).toBe(code);
    expect(mapped.details).toContain(detail);
  });

  it('hides anything unexpected behind INTERNAL', () => {
    expect(toGrpcError(new TypeError('x is undefined'), logger)).toEqual({ code: status.INTERNAL, details: 'internal error' });
    expect(toGrpcError(named('ReplyError', 'ERR wrong number of arguments'), logger).code).toBe(status.INTERNAL);
    expect(isConnectionError('not an error')).toBe(false);
  });
});
