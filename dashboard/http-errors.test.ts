// The gateway's gRPC status → the dashboard's HTTP answer.
import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { TaskManagerClientError } from '../client/errors';
import { RequestError } from '../shared/runtime/error-response';
import { toHttpError } from './http-errors';
import { BadRequest } from './requests';

describe('toHttpError', () => {
  it.each([
    [status.INVALID_ARGUMENT, 400],
    [status.UNAUTHENTICATED, 401],
    [status.PERMISSION_DENIED, 403],
    [status.NOT_FOUND, 404],
    [status.FAILED_PRECONDITION, 409],
    [status.RESOURCE_EXHAUSTED, 429],
    [status.UNAVAILABLE, 503],
    [status.DEADLINE_EXCEEDED, 504],
    [status.INTERNAL, 502],
  ])('gRPC code %i → HTTP %i, with the code name', (code, http) => {
    const answer = toHttpError(new TaskManagerClientError(code, 'what the gateway said'));
    expect(answer.status).toBe(http);
    expect(answer.body.error).toBe(status[code]);
    expect(answer.body.message).toContain('what the gateway said');
  });

  it('says what to do about a missing or wrong key', () => {
    expect(toHttpError(new TaskManagerClientError(status.UNAUTHENTICATED, 'missing API key')).body.message).toBe(
      'the gateway wants an API key: missing API key (enter your key in the dashboard; it is sent as "authorization: Bearer <key>")',
    );
  });

  it('answers its own refusals with their status, and anything else with 500', () => {
    expect(toHttpError(new BadRequest('type: required'))).toEqual({ status: 400, body: { error: 'BAD_REQUEST', message: 'type: required' } });
    expect(toHttpError(new BadRequest('content-type: expected application/json', 415)).status).toBe(415);
    expect(toHttpError(new RequestError(413, 'request body too large'))).toEqual({ status: 413, body: { error: 'PAYLOAD_TOO_LARGE', message: 'request body too large' } });
    expect(toHttpError(new Error('boom'))).toEqual({ status: 500, body: { error: 'INTERNAL', message: 'boom' } });
  });
});
