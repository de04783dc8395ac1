import { describe, expect, it } from 'vitest';
import { MAX_DELAY_MS } from '../shared/contract';
import { ValidationError } from '../shared/errors';
import type { SubmitTaskRequest } from './proto';
import { validateAfterSeq, validateSubmit, validateTaskId } from './validation';
import { SUBMIT_TASK_WIRE_FIELDS, withWireCheck } from './wire-check';

const LIMITS = { maxPayloadBytes: 1024 };

function request(overrides: Partial<SubmitTaskRequest> = {}): SubmitTaskRequest {
  return { type: 'echo', payload: '{"a":1}', priority: 'PRIORITY_UNSPECIFIED', metadata: {}, max_attempts: 0, ...overrides };
}

function errorOf(overrides: Partial<SubmitTaskRequest>): ValidationError {
  const result = validateSubmit(request(overrides), LIMITS);
  if (result.ok) throw new Error(`expected ${JSON.stringify(overrides)} to be refused`);
  return result.error;
}

describe('validateSubmit', () => {
  it('normalizes a valid request with defaults', () => {
    expect(validateSubmit(request(), LIMITS)).toEqual({
      ok: true,
      value: { type: 'echo', payload: '{"a":1}', priority: 'medium', idempotencyKey: undefined, metadata: {}, delayMs: 0, maxAttempts: 5 },
    });
  });

  it('keeps the given priority, key, metadata, delay and attempts', () => {
    const result = validateSubmit(
      request({ priority: 'PRIORITY_HIGH', idempotency_key: 'order-42/x', metadata: { timeout_ms: '2500', 'trace.id': 'abc' }, delay_ms: MAX_DELAY_MS, max_attempts: 1 }),
      LIMITS,
    );
    expect(result).toMatchObject({
      ok: true,
      value: { priority: 'high', idempotencyKey: 'order-42/x', metadata: { timeout_ms: '2500', 'trace.id': 'abc' }, delayMs: MAX_DELAY_MS, maxAttempts: 1 },
    });
    expect(validateSubmit(request({ priority: 'PRIORITY_LOW' }), LIMITS)).toMatchObject({ value: { priority: 'low' } });
  });

  const invalid: [string, Partial<SubmitTaskRequest>, string, RegExp][] = [
    ['type missing', { type: '' }, 'type', /is required/],
    ['type too long', { type: 'a'.repeat(129) }, 'type', /at most 128/],
    ["type with '*'", { type: 'ec*ho' }, 'type', /letters, digits/],
    ["type with '>'", { type: 'echo>' }, 'type', /letters, digits/],
    ["type with '.'", { type: 'tasks.echo' }, 'type', /letters, digits/],
    ['type with a space', { type: 'ec ho' }, 'type', /letters, digits/],
    ['type with CRLF', { type: 'echo\r\n' }, 'type', /"echo\\r\\n"/],
    ['payload empty', { payload: '' }, 'payload', /is required/],
    ['payload blank', { payload: '   ' }, 'payload', /is required/],
    ['payload not JSON', { payload: '{"a":' }, 'payload', /is not valid JSON/],
    ['payload too large', { payload: JSON.stringify('x'.repeat(1100)) }, 'payload', /over the limit of 1024 bytes/],
    ['payload too large in UTF-8 bytes', { payload: JSON.stringify('é'.repeat(600)) }, 'payload', /1202 bytes/],
    ['priority unknown number', { priority: 7 }, 'priority', /unknown value 7/],
    ['idempotency key empty', { idempotency_key: '' }, 'idempotency_key', /must not be empty/],
    ['idempotency key with CRLF', { idempotency_key: 'a\r\nb' }, 'idempotency_key', /printable ASCII/],
    ['idempotency key with a space', { idempotency_key: 'a b' }, 'idempotency_key', /without spaces/],
    ['idempotency key too long', { idempotency_key: 'k'.repeat(257) }, 'idempotency_key', /at most 256/],
    ['metadata key with a space', { metadata: { 'bad key': 'v' } }, 'metadata', /key "bad key"/],
    ['metadata key empty', { metadata: { '': 'v' } }, 'metadata', /key ""/],
    ['metadata value with a newline', { metadata: { note: 'a\nb' } }, 'metadata.note', /control characters/],
    ['metadata value with a C1 control', { metadata: { note: 'a\u0085b' } }, 'metadata.note', /control characters/],
    ['metadata value too long', { metadata: { note: 'v'.repeat(1025) } }, 'metadata.note', /at most 1024/],
    ['metadata with too many entries', { metadata: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) }, 'metadata', /65 entries/],
    ['metadata timeout_ms zero', { metadata: { timeout_ms: '0' } }, 'metadata.timeout_ms', /1\.\.86400000/],
    ['metadata timeout_ms over a day', { metadata: { timeout_ms: '86400001' } }, 'metadata.timeout_ms', /86400001/],
    ['metadata timeout_ms not a number', { metadata: { timeout_ms: '1e3' } }, 'metadata.timeout_ms', /"1e3"/],
    ['delay_ms negative', { delay_ms: -1 }, 'delay_ms', /got -1/],
    ['delay_ms over 30 days', { delay_ms: MAX_DELAY_MS + 1 }, 'delay_ms', /30 days/],
    ['max_attempts -1', { max_attempts: -1 }, 'max_attempts', /got -1/],
    ['max_attempts 6', { max_attempts: 6 }, 'max_attempts', /1\.\.5, got 6/],
  ];

  it('never quotes half a surrogate pair (grpc-js cannot encode it as grpc-message)', () => {
    // V8's JSON error quotes the offending UTF-16 unit: here the first half of the emoji.
    const error = errorOf({ payload: '😀x' });
    expect(error.message).toMatch(/^payload: is not valid JSON/);
    expect(error.message).not.toMatch(/\p{Cs}/u);
    expect(() => encodeURI(error.message)).not.toThrow();
  });

  it('reports a problem found on the wire before the decoded fields', () => {
    const decode = withWireCheck(() => request({ type: '' }), SUBMIT_TASK_WIRE_FIELDS);
    const result = validateSubmit(decode(Buffer.concat([Buffer.from([0x12, 0x01]), Buffer.from([0xff])])), LIMITS);
    expect(result).toMatchObject({ ok: false, error: { field: 'payload', message: 'payload: is not valid UTF-8' } });
  });

  it.each(invalid)('refuses %s, naming the field first', (_name, overrides, field, detail) => {
    const error = errorOf(overrides);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.field).toBe(field);
    expect(error.message.startsWith(`${field}: `)).toBe(true);
    expect(error.message).toMatch(detail);
  });

  it('max_attempts: 0 takes the task type’s limit; a task may lower it, never raise it', () => {
    const limits = { ...LIMITS, typeAttempts: new Map([['resize', 8], ['once', 1]]) };
    const attemptsOf = (type: string, max_attempts: number) => {
      const result = validateSubmit(request({ type, max_attempts }), limits);
      return result.ok ? result.value.maxAttempts : result.error.message;
    };
    expect(attemptsOf('resize', 0)).toBe(8);
    expect(attemptsOf('resize', 7)).toBe(7);
    expect(attemptsOf('once', 0)).toBe(1);
    expect(attemptsOf('once', 2)).toBe('max_attempts: must be 0 (the default: the limit of task type "once", 1) or 1..1, got 2');
    // A type the gateway does not know (ingest rejects it) keeps the default limit.
    expect(attemptsOf('unknown', 0)).toBe(5);
  });

  it('accepts the edges of each range', () => {
    expect(validateSubmit(request({ type: 'a'.repeat(128), delay_ms: 0, max_attempts: 5 }), LIMITS).ok).toBe(true);
    expect(validateSubmit(request({ payload: JSON.stringify('x'.repeat(1022)) }), LIMITS).ok).toBe(true);
    expect(validateSubmit(request({ metadata: { timeout_ms: '86400000' } }), LIMITS).ok).toBe(true);
    expect(validateSubmit(request({ payload: 'null' }), LIMITS).ok).toBe(true);
  });
});

describe('validateTaskId', () => {
  it.each([[''], ['a*b'], ['a.b'], ['x'.repeat(129)], ['id\n']])('refuses %j naming task_id', (id) => {
    const result = validateTaskId(id);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.message).toMatch(/^task_id: /);
  });

  it('accepts uuids and test ids', () => {
    expect(validateTaskId('0b6f3c1e-8a8e-4b8e-9a57-9c1d2f7a1e00')).toEqual({ ok: true, value: '0b6f3c1e-8a8e-4b8e-9a57-9c1d2f7a1e00' });
    expect(validateTaskId('task_1').ok).toBe(true);
  });
});

describe('validateAfterSeq', () => {
  it('keeps absence distinct from 0 and refuses negatives', () => {
    expect(validateAfterSeq(undefined)).toEqual({ ok: true, value: undefined });
    expect(validateAfterSeq(0)).toEqual({ ok: true, value: 0 });
    const negative = validateAfterSeq(-1);
    expect(negative.ok).toBe(false);
    if (!negative.ok) expect(negative.error.message).toMatch(/^after_seq: /);
  });
});
