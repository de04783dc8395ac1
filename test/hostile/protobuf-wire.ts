// Test-only: a hand-written protobuf encoder for SubmitTaskRequest, so a test can put bytes on
// the wire that no well-behaved client library would send (invalid UTF-8 in string fields,
// 64-bit varints beyond what a JS number holds, map entries with any key) and see exactly what
// the gateway makes of them. Field numbers follow proto/taskmanager.proto.
import { Buffer } from 'node:buffer';

/** A string field as raw bytes, or as text (encoded as UTF-8). */
export type WireText = string | Uint8Array;

export type RawSubmit = {
  type?: WireText;
  payload?: WireText;
  /** Any varint: an enum value the proto does not name, a negative number... */
  priority?: bigint;
  idempotencyKey?: WireText;
  /** Entries in wire order; a key may repeat (the last one wins, as protobuf says). */
  metadata?: ReadonlyArray<readonly [WireText, WireText]>;
  delayMs?: bigint;
  maxAttempts?: bigint;
  /** Fields encoded by the caller (any wire type, any varint form), appended as they are. */
  raw?: readonly Uint8Array[];
};

const LENGTH_DELIMITED = 2;
const VARINT = 0;

/** Base-128 varint of the value's two's-complement 64-bit form (negative int64/int32 → 10 bytes). */
export function encodeVarint(value: bigint): Buffer {
  let rest = BigInt.asUintN(64, value);
  const bytes: number[] = [];
  do {
    const low = Number(rest & 0x7fn);
    rest >>= 7n;
    bytes.push(rest === 0n ? low : low | 0x80);
  } while (rest !== 0n);
  return Buffer.from(bytes);
}

/** The value's varint padded with 0x80 continuation bytes to `length` bytes (a non-minimal form). */
export function paddedVarint(value: bigint, length: number): Buffer {
  const minimal = encodeVarint(value);
  if (minimal.length >= length) return minimal;
  const padded = Buffer.alloc(length, 0x80);
  minimal.copy(padded, 0, 0, minimal.length);
  padded[minimal.length - 1] = minimal[minimal.length - 1]! | 0x80;
  padded[length - 1] = 0x00;
  return padded;
}

export function tag(field: number, wireType: number): Buffer {
  return encodeVarint(BigInt((field << 3) | wireType));
}

function toBytes(text: WireText): Buffer {
  return typeof text === 'string' ? Buffer.from(text, 'utf8') : Buffer.from(text);
}

export function lengthDelimited(field: number, bytes: Uint8Array): Buffer {
  return Buffer.concat([tag(field, LENGTH_DELIMITED), encodeVarint(BigInt(bytes.length)), bytes]);
}

export function varintField(field: number, value: bigint): Buffer {
  return Buffer.concat([tag(field, VARINT), encodeVarint(value)]);
}

export function encodeSubmit(request: RawSubmit): Buffer {
  const parts: Buffer[] = [];
  if (request.type !== undefined) parts.push(lengthDelimited(1, toBytes(request.type)));
  if (request.payload !== undefined) parts.push(lengthDelimited(2, toBytes(request.payload)));
  if (request.priority !== undefined) parts.push(varintField(3, request.priority));
  if (request.idempotencyKey !== undefined) parts.push(lengthDelimited(4, toBytes(request.idempotencyKey)));
  for (const [key, value] of request.metadata ?? []) {
    parts.push(lengthDelimited(5, Buffer.concat([lengthDelimited(1, toBytes(key)), lengthDelimited(2, toBytes(value))])));
  }
  if (request.delayMs !== undefined) parts.push(varintField(6, request.delayMs));
  if (request.maxAttempts !== undefined) parts.push(varintField(7, request.maxAttempts));
  parts.push(...(request.raw ?? []).map((bytes) => Buffer.from(bytes)));
  return Buffer.concat(parts);
}

/** The 5-byte gRPC message prefix (compressed flag, big-endian length) and the message. */
export function grpcFrame(message: Uint8Array, options: { compressed?: boolean; declaredLength?: number } = {}): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(options.compressed ? 1 : 0, 0);
  header.writeUInt32BE(options.declaredLength ?? message.length, 1);
  return Buffer.concat([header, message]);
}
