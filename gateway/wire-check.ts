// Checks on a request's bytes that decoding cannot make afterwards; validation (validation.ts)
// answers INVALID_ARGUMENT naming the field. Found by fuzzing (test/hostile/):
// - protobufjs decodes a string field with Node's Buffer, which turns invalid UTF-8 into U+FFFD
//   without a word: a payload or a metadata value with broken bytes would be accepted and stored
//   altered. proto3 says a parser must refuse such strings.
// - An int32/enum varint of 6 to 9 bytes (no conforming encoder writes one) makes protobufjs
//   skip the next bytes as if it were 10 long: it either fails (INTERNAL) or silently drops the
//   field that follows, e.g. max_attempts, and the task is accepted with other values than sent.
// - A known field sent with another wire type is read as if it had the right one (a string's
//   length as a number, a number's bytes as fields): refused instead of guessed at.
// Pure over the bytes; other malformed protobuf is left to the decoder (grpc-js answers INTERNAL).
import { isUtf8 } from 'node:buffer';
import { ValidationError } from '../shared/errors';

/** The fields of a message the check looks at, by field number and kind. */
export type WireFields = {
  readonly strings: Readonly<Record<number, string>>;
  /** map<string, string> */
  readonly maps: Readonly<Record<number, string>>;
  /** int32 and enums */
  readonly int32s: Readonly<Record<number, string>>;
  readonly int64s: Readonly<Record<number, string>>;
};

export const SUBMIT_TASK_WIRE_FIELDS: WireFields = Object.freeze({
  strings: Object.freeze({ 1: 'type', 2: 'payload', 4: 'idempotency_key' }),
  maps: Object.freeze({ 5: 'metadata' }),
  int32s: Object.freeze({ 3: 'priority', 7: 'max_attempts' }),
  int64s: Object.freeze({ 6: 'delay_ms' }),
});

const VARINT = 0;
const LENGTH_DELIMITED = 2;

const WIRE_PROBLEM = Symbol('wire problem');
const PLAIN_KEY = /^[A-Za-z0-9_.-]{1,128}$/;

/** `bytes`: the content of a length-delimited field; `varintLength`: the size of a varint. */
type WireField = { number: number; wireType: number; bytes: Uint8Array | undefined; varintLength: number };

/** A varint at `offset`: its value (exact up to 2^53) and the offset after it, or undefined. */
function readVarint(buf: Uint8Array, offset: number): { value: number; next: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let i = offset; i < buf.length && i < offset + 10; i += 1) {
    const byte = buf[i]!;
    value += (byte & 0x7f) * scale;
    scale *= 128;
    if ((byte & 0x80) === 0) return { value, next: i + 1 };
  }
  return undefined;
}

/** The fields of a message in wire order; stops quietly where the bytes stop making sense. */
function* readFields(buf: Uint8Array): Generator<WireField> {
  let offset = 0;
  while (offset < buf.length) {
    const tag = readVarint(buf, offset);
    if (!tag) return;
    const wireType = tag.value % 8;
    const number = Math.floor(tag.value / 8);
    offset = tag.next;
    if (wireType === 0) {
      const varint = readVarint(buf, offset);
      if (!varint) return;
      yield { number, wireType, bytes: undefined, varintLength: varint.next - offset };
      offset = varint.next;
    } else if (wireType === 1 || wireType === 5) {
      offset += wireType === 1 ? 8 : 4;
      if (offset > buf.length) return;
      yield { number, wireType, bytes: undefined, varintLength: 0 };
    } else if (wireType === 2) {
      const length = readVarint(buf, offset);
      if (!length || length.next + length.value > buf.length) return;
      offset = length.next + length.value;
      yield { number, wireType, bytes: buf.subarray(length.next, offset), varintLength: 0 };
    } else {
      return; // groups (3, 4) or no wire type at all: the decoder decides.
    }
  }
}

function notUtf8(field: string): ValidationError {
  return new ValidationError(`${field}: is not valid UTF-8`, { field });
}

function checkMapEntry(entry: Uint8Array, map: string): ValidationError | undefined {
  let key: Uint8Array = new Uint8Array(0);
  let value: Uint8Array = new Uint8Array(0);
  for (const field of readFields(entry)) {
    if (field.number !== 1 && field.number !== 2) continue;
    if (!field.bytes) return new ValidationError(`${map}: an entry's ${field.number === 1 ? 'key' : 'value'} is not a string`, { field: map });
    if (field.number === 1) key = field.bytes;
    else value = field.bytes;
  }
  if (!isUtf8(key)) return new ValidationError(`${map}: a key is not valid UTF-8`, { field: map });
  if (isUtf8(value)) return undefined;
  const name = Buffer.from(key).toString('utf8');
  // `metadata.<key>` only for a key that reads as one (validation.ts allows these characters).
  if (PLAIN_KEY.test(name)) return notUtf8(`${map}.${name}`);
  return new ValidationError(`${map}: the value of key ${JSON.stringify(name.slice(0, 64))} is not valid UTF-8`, { field: map });
}

/** int32 varints are up to 5 bytes, or 10 for a negative value sign-extended to 64 bits. */
function isInt32Varint(length: number): boolean {
  return length <= 5 || length === 10;
}

/** The known field's name and the wire type it must have, or undefined for an unknown field. */
function expected(fields: WireFields, number: number): { name: string; wireType: number } | undefined {
  const text = fields.strings[number] ?? fields.maps[number];
  if (text !== undefined) return { name: text, wireType: LENGTH_DELIMITED };
  const integer = fields.int32s[number] ?? fields.int64s[number];
  return integer === undefined ? undefined : { name: integer, wireType: VARINT };
}

/**
 * The first problem in wire order: a known field with the wrong wire type, a string field that is
 * not UTF-8, an int32 varint of a length no encoder writes.
 */
export function findWireProblem(bytes: Uint8Array, fields: WireFields): ValidationError | undefined {
  for (const field of readFields(bytes)) {
    const known = expected(fields, field.number);
    if (!known) continue;
    if (field.wireType !== known.wireType) {
      return new ValidationError(`${known.name}: sent as wire type ${field.wireType}, expected ${known.wireType}`, { field: known.name });
    }
    const int32 = fields.int32s[field.number];
    if (int32 !== undefined && !isInt32Varint(field.varintLength)) {
      return new ValidationError(`${int32}: a ${field.varintLength}-byte varint is not a 32-bit value`, { field: int32 });
    }
    if (!field.bytes) continue;
    const name = fields.strings[field.number];
    if (name !== undefined && !isUtf8(field.bytes)) return notUtf8(name);
    const map = fields.maps[field.number];
    const problem = map === undefined ? undefined : checkMapEntry(field.bytes, map);
    if (problem) return problem;
  }
  return undefined;
}

/**
 * Wraps a grpc-js request deserializer. Without a wire problem it decodes as before (malformed
 * bytes still throw: INTERNAL). With one, the decoded message (or an empty one, where the decoder
 * gives up on such bytes) carries the problem for validation to report.
 */
export function withWireCheck<T>(deserialize: (bytes: Buffer) => T, fields: WireFields): (bytes: Buffer) => T {
  return (bytes) => {
    const problem = findWireProblem(bytes, fields);
    if (!problem) return deserialize(bytes);
    let message: unknown;
    try {
      message = deserialize(bytes);
    } catch {
      message = {};
    }
    const carrier = message !== null && typeof message === 'object' ? message : {};
    Object.defineProperty(carrier, WIRE_PROBLEM, { value: problem, enumerable: false });
    return carrier as T;
  };
}

/** The problem `withWireCheck` found in this decoded request, if any. */
export function wireProblemOf(request: unknown): ValidationError | undefined {
  if (request === null || typeof request !== 'object') return undefined;
  const problem = (request as { [WIRE_PROBLEM]?: unknown })[WIRE_PROBLEM];
  return problem instanceof ValidationError ? problem : undefined;
}
