// RESP2 both ways: commands as Redis reads them, and replies parsed however the bytes are cut.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeCommand, ReplyError, ReplyParser, type Reply } from './resp';

/** A reply as redis-server writes it. */
function toWire(reply: Reply): string {
  if (reply === null) return '$-1\r\n';
  if (reply instanceof ReplyError) return `-${reply.message}\r\n`;
  if (typeof reply === 'number') return `:${reply}\r\n`;
  if (typeof reply === 'string') return `$${Buffer.byteLength(reply)}\r\n${reply}\r\n`;
  if (Buffer.isBuffer(reply)) return `$${reply.length}\r\n${reply.toString('latin1')}\r\n`;
  return `*${reply.length}\r\n${reply.map(toWire).join('')}`;
}

function parseAll(chunks: readonly Buffer[], wantsBytes?: () => boolean): Reply[] {
  const replies: Reply[] = [];
  const parser = new ReplyParser((reply) => replies.push(reply), wantsBytes);
  for (const chunk of chunks) parser.push(chunk);
  return replies;
}

const replyArbitrary: fc.Arbitrary<Reply> = fc.letrec<{ reply: Reply }>((tie) => ({
  reply: fc.oneof(
    { depthSize: 'small' },
    fc.string({ unit: 'grapheme' }),
    fc.integer(),
    fc.constant(null),
    fc.array(tie('reply'), { maxLength: 4 }),
  ),
})).reply;

describe('encodeCommand', () => {
  it('writes an array of bulk strings, lengths in bytes', () => {
    expect(encodeCommand(['SET', 'key', 'é', 12])).toBe('*4\r\n$3\r\nSET\r\n$3\r\nkey\r\n$2\r\né\r\n$2\r\n12\r\n');
  });

  it('sends a Buffer argument as its bytes', () => {
    const bytes = Buffer.from([0, 255, 13, 10]);
    expect(encodeCommand(['RESTORE', 'k', 0, bytes])).toEqual(
      Buffer.concat([Buffer.from('*4\r\n$7\r\nRESTORE\r\n$1\r\nk\r\n$1\r\n0\r\n$4\r\n'), bytes, Buffer.from('\r\n')]),
    );
  });
});

describe('ReplyParser', () => {
  it('reads every reply type, and errors as ReplyError', () => {
    const wire = '+OK\r\n-NOSCRIPT No matching script\r\n:42\r\n$5\r\nhe\r\nl\r\n$-1\r\n*-1\r\n*2\r\n$1\r\na\r\n*1\r\n:1\r\n';
    const replies = parseAll([Buffer.from(wire)]);
    expect(replies).toEqual(['OK', expect.any(ReplyError), 42, 'he\r\nl', null, null, ['a', [1]]]);
    expect((replies[1] as ReplyError).message).toBe('NOSCRIPT No matching script');
  });

  it('gives a bulk reply as bytes when asked', () => {
    const bytes = Buffer.from([0, 255, 13]);
    const wire = Buffer.concat([Buffer.from('$3\r\n'), bytes, Buffer.from('\r\n')]);
    expect(parseAll([wire], () => true)).toEqual([bytes]);
    expect(parseAll([wire])).toEqual([bytes.toString('utf8')]);
  });

  it('reads the same replies however the bytes are cut into chunks', () => {
    fc.assert(
      fc.property(fc.array(replyArbitrary, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 8 }), (replies, cuts) => {
        const wire = Buffer.from(replies.map(toWire).join(''));
        const points = [...new Set(cuts.map((cut) => cut % (wire.length + 1)))].sort((a, b) => a - b);
        const chunks = [0, ...points].map((from, i) => wire.subarray(from, points[i] ?? wire.length)).filter((chunk) => chunk.length > 0);
        expect(parseAll(chunks)).toEqual(replies);
      }),
    );
  });

  it('names a byte that starts no reply', () => {
    expect(() => parseAll([Buffer.from('?what\r\n')])).toThrow('not a RESP reply: type byte 0x3f at offset 0');
  });
});
