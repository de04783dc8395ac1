import { describe, expect, it } from 'vitest';
import { encodeSubmit, encodeVarint, lengthDelimited, paddedVarint, tag } from '../test/hostile/protobuf-wire';
import { findWireProblem, SUBMIT_TASK_WIRE_FIELDS, wireProblemOf, withWireCheck } from './wire-check';

const problemIn = (bytes: Uint8Array) => findWireProblem(bytes, SUBMIT_TASK_WIRE_FIELDS)?.message;
const BAD = Buffer.from([0xc0, 0xae]); // an overlong '.'

describe('findWireProblem', () => {
  it('finds nothing in a well-formed request, whatever its text', () => {
    const bytes = encodeSubmit({
      type: 'echo', payload: '"😀 \ufffd é"', priority: 3n, idempotencyKey: 'k', metadata: [['a.b', 'ß']], delayMs: 2n ** 40n, maxAttempts: -1n,
    });
    expect(problemIn(bytes)).toBeUndefined();
  });

  it('names each string field that is not UTF-8', () => {
    expect(problemIn(encodeSubmit({ type: BAD }))).toBe('type: is not valid UTF-8');
    expect(problemIn(encodeSubmit({ type: 'echo', payload: BAD }))).toBe('payload: is not valid UTF-8');
    expect(problemIn(encodeSubmit({ idempotencyKey: Buffer.from([0xff]) }))).toBe('idempotency_key: is not valid UTF-8');
    expect(problemIn(encodeSubmit({ metadata: [[BAD, 'v']] }))).toBe('metadata: a key is not valid UTF-8');
    expect(problemIn(encodeSubmit({ metadata: [['region', BAD]] }))).toBe('metadata.region: is not valid UTF-8');
    expect(problemIn(encodeSubmit({ metadata: [['a b', BAD]] }))).toBe('metadata: the value of key "a b" is not valid UTF-8');
  });

  it('refuses int32 varints of 6 to 9 bytes, which protobufjs reads past, but not 5 or 10', () => {
    for (const length of [6, 7, 8, 9]) {
      const bytes = Buffer.concat([tag(7, 0), paddedVarint(3n, length)]);
      expect(problemIn(bytes)).toBe(`max_attempts: a ${length}-byte varint is not a 32-bit value`);
    }
    expect(problemIn(Buffer.concat([tag(3, 0), paddedVarint(3n, 5)]))).toBeUndefined();
    expect(problemIn(encodeSubmit({ priority: -1n }))).toBeUndefined(); // 10 bytes, sign-extended
  });

  it('refuses a known field sent with another wire type', () => {
    expect(problemIn(Buffer.concat([tag(1, 0), encodeVarint(4n)]))).toBe('type: sent as wire type 0, expected 2');
    expect(problemIn(lengthDelimited(6, Buffer.from('1')))).toBe('delay_ms: sent as wire type 2, expected 0');
    expect(problemIn(lengthDelimited(5, Buffer.concat([tag(2, 0), encodeVarint(1n)])))).toBe("metadata: an entry's value is not a string");
  });

  it('leaves unknown fields and bytes that are not protobuf at all to the decoder', () => {
    expect(problemIn(lengthDelimited(99, BAD))).toBeUndefined();
    expect(problemIn(Buffer.from([0x12, 0x7f, 0x01]))).toBeUndefined(); // a length past the end
    expect(problemIn(Buffer.from([0x0b]))).toBeUndefined(); // a group
  });
});

describe('withWireCheck', () => {
  const failing = () => {
    throw new Error('decoder gave up');
  };

  it('attaches the problem to the decoded message without changing its fields', () => {
    const decode = withWireCheck(() => ({ type: 'echo' }), SUBMIT_TASK_WIRE_FIELDS);
    const message = decode(encodeSubmit({ type: 'echo', payload: BAD }));
    expect(message).toEqual({ type: 'echo' });
    expect(wireProblemOf(message)?.message).toBe('payload: is not valid UTF-8');
    expect(wireProblemOf({ type: 'echo' })).toBeUndefined();
  });

  it('answers with the problem where the decoder gives up on such bytes, and lets other decoding errors through', () => {
    const decode = withWireCheck(failing, SUBMIT_TASK_WIRE_FIELDS);
    expect(wireProblemOf(decode(Buffer.concat([tag(3, 0), paddedVarint(1n, 7)])))?.field).toBe('priority');
    expect(() => decode(Buffer.from([0x0a, 0x05]))).toThrow('decoder gave up');
  });
});
