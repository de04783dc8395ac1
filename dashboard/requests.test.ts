// The dashboard API's input checks: every bad value is refused with a message naming its field.
import { describe, expect, it } from 'vitest';
import { BadRequest, readBearerToken, toAfterSeq, toDeadLetterQuery, toJsonObject, toListTasksQuery, toReplayRequest, toSubmitInput } from './requests';

const params = (text: string) => new URLSearchParams(text);
const refusal = (run: () => unknown): string => {
  try {
    run();
  } catch (error) {
    if (error instanceof BadRequest) return `${error.status} ${error.message}`;
    throw error;
  }
  throw new Error('not refused');
};

describe('the API key header', () => {
  it('takes "Bearer <key>" (any case), and nothing when the header is absent or blank', () => {
    expect(readBearerToken('Bearer abc123')).toBe('abc123');
    expect(readBearerToken('bearer  abc123 ')).toBe('abc123');
    expect(readBearerToken(undefined)).toBeUndefined();
    expect(readBearerToken('  ')).toBeUndefined();
  });

  it.each(['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer a b', 'abc123'])('refuses %j with 401', (header) => {
    expect(refusal(() => readBearerToken(header))).toBe('401 authorization: expected "Bearer <key>"');
  });
});

describe('task list filters', () => {
  it('reads states (repeated or comma-separated, any case), type, priority and paging', () => {
    expect(toListTasksQuery(params('state=failed&state=REJECTED,succeeded&type=echo&priority=high&pageSize=25&pageToken=t1'))).toEqual({
      states: ['FAILED', 'REJECTED', 'SUCCEEDED'],
      type: 'echo',
      priority: 'high',
      pageSize: 25,
      pageToken: 't1',
    });
    expect(toListTasksQuery(params('state=&type=%20'))).toEqual({});
  });

  it.each([
    ['state=DONE', /^400 state: unknown state "DONE" \(one of QUEUED, .*REJECTED\)$/],
    ['state=TASK_STATE_UNSPECIFIED', /^400 state: unknown state/],
    ['priority=urgent', /^400 priority: expected one of low, medium, high, got "urgent"$/],
    ['pageSize=0', /^400 pageSize: expected a whole number from 1 to 1000, got "0"$/],
    ['pageSize=1001', /^400 pageSize: /],
    ['pageSize=2.5', /^400 pageSize: /],
    [`type=${'x'.repeat(513)}`, /^400 type: longer than 512 characters$/],
  ])('refuses %s', (query, message) => {
    expect(refusal(() => toListTasksQuery(params(query)))).toMatch(message);
  });

  it('reads dead-letter filters and the stream resume point', () => {
    expect(toDeadLetterQuery(params('type=fail&stage=worker&taskId=t-1&pageSize=100'))).toEqual({ type: 'fail', stage: 'worker', taskId: 't-1', pageSize: 100 });
    expect(toAfterSeq(params(''))).toBeUndefined();
    expect(toAfterSeq(params('afterSeq=0'))).toBe(0);
    expect(refusal(() => toAfterSeq(params('afterSeq=-1')))).toMatch(/^400 afterSeq: /);
  });
});

describe('request bodies', () => {
  it('must be a JSON object', () => {
    expect(refusal(() => toJsonObject(Buffer.from('{"a":')))).toMatch(/^400 body: not JSON/);
    expect(refusal(() => toJsonObject(Buffer.from('[1]')))).toBe('400 body: expected a JSON object');
    expect(toJsonObject(Buffer.from('{"a":1}'))).toEqual({ a: 1 });
  });

  it('a submission: type, payload as JSON text, priority, attempts, delay', () => {
    expect(toSubmitInput({ type: ' echo ', payload: '{"x":1}', priority: 'high', maxAttempts: 1 })).toEqual({ type: 'echo', payload: '{"x":1}', priority: 'high', maxAttempts: 1 });
    expect(toSubmitInput({ type: 'echo', payload: ' ', priority: '' })).toEqual({ type: 'echo', payload: '{}' });
    expect(toSubmitInput({ type: 'sleep', delayMs: 500 })).toEqual({ type: 'sleep', payload: '{}', delayMs: 500 });
  });

  it.each([
    [{ payload: '{}' }, '400 type: required, a task type name'],
    [{ type: '  ' }, '400 type: required, a task type name'],
    [{ type: 'echo', payload: { x: 1 } }, '400 payload: expected JSON text (a string)'],
    [{ type: 'echo', payload: '{x:1}' }, /^400 payload: not JSON/],
    [{ type: 'echo', priority: 'urgent' }, '400 priority: expected one of low, medium, high, got "urgent"'],
    [{ type: 'echo', maxAttempts: 6 }, '400 maxAttempts: expected a whole number from 0 to 5, got 6'],
    [{ type: 'echo', maxAttempts: '2' }, '400 maxAttempts: expected a whole number from 0 to 5, got "2"'],
    [{ type: 'echo', delayMs: -1 }, /^400 delayMs: /],
  ])('refuses the submission %j', (body, message) => {
    expect(refusal(() => toSubmitInput(body))).toMatch(message);
  });

  it('a replay: ids, or all with the filters', () => {
    expect(toReplayRequest({ ids: [' d1', 'd2'] })).toEqual({ kind: 'ids', query: { ids: ['d1', 'd2'], dryRun: false } });
    expect(toReplayRequest({ all: true, type: 'fail', stage: '', dryRun: true })).toEqual({ kind: 'all', query: { type: 'fail', dryRun: true } });
  });

  it.each([
    [{}, '400 ids: expected a non-empty list of dead-letter ids (or all: true)'],
    [{ ids: [] }, '400 ids: expected a non-empty list of dead-letter ids (or all: true)'],
    [{ ids: ['ok', 3] }, '400 ids: every id must be a non-empty string'],
    [{ ids: ['a'], all: true }, '400 ids: give ids or all, not both'],
    [{ all: 'yes' }, '400 all: expected true or false'],
    [{ all: true, type: 5 }, '400 type: expected a string of at most 512 characters'],
  ])('refuses the replay %j', (body, message) => {
    expect(refusal(() => toReplayRequest(body))).toBe(message);
  });
});
