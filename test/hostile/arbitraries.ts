// Test-only fast-check building blocks for hostile input: characters that mean something to NATS
// subjects, Redis keys, HTTP headers, JSON or a terminal; byte sequences that are not UTF-8
// (including overlong encodings of '.', '*', '>' and CR LF, the classic filter bypasses); JSON
// nested deeper than any sane client would send; keys that JavaScript objects treat specially.
import { Buffer } from 'node:buffer';
import fc from 'fast-check';

/** Characters with a meaning somewhere downstream; each is refused by at least one field rule. */
export const HOSTILE_CHARS: readonly string[] = [
  '.', '*', '>', ' ', '\r\n', '\r', '\n', '\t', '\u0000', '\u0007', '\u001b', '\u007f', '\u0085', '\u009b',
  '\u2028', '\ufeff', '\ufffd', '"', "'", '\\', '/', ':', ';', '$', '{', '}', '%', '%0d%0a', '@', '#',
  'é', 'ß', '😀', '\u0301', '\u202e',
];

/** C0 and C1 controls and DEL. */
export const CONTROL_CHARS: readonly string[] = ['\u0000', '\u0007', '\t', '\n', '\r', '\r\n', '\u001b', '\u001f', '\u007f', '\u0085', '\u009b'];

/** Byte sequences that are never valid UTF-8, wherever they sit between characters. */
export const INVALID_UTF8: readonly (readonly number[])[] = [
  [0xff],
  [0xfe],
  [0x80],
  [0xbf],
  [0xc0, 0xae], // overlong '.'
  [0xc0, 0xaa], // overlong '*'
  [0xc0, 0xbe], // overlong '>'
  [0xe0, 0x80, 0xae], // overlong '.', three bytes
  [0xc0, 0x8d, 0xc0, 0x8a], // overlong CR LF
  [0xed, 0xa0, 0x80], // a UTF-16 surrogate
  [0xf4, 0x90, 0x80, 0x80], // beyond U+10FFFF
  [0xe2, 0x82], // truncated
  [0xf8, 0x88, 0x80, 0x80, 0x80], // five-byte form
];

export const JS_SPECIAL_KEYS: readonly string[] = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'];

/** `text` with `insert` placed at a code-point boundary chosen by `at` (0..1). */
export function insertAt(text: string, insert: string, at: number): string {
  const points = [...text];
  const index = Math.floor(at * (points.length + 1));
  return [...points.slice(0, index), insert, ...points.slice(index)].join('');
}

/** The UTF-8 bytes of `text` with `bytes` spliced in at a code-point boundary. */
export function spliceBytes(text: string, bytes: readonly number[], at: number): Buffer {
  const points = [...text];
  const index = Math.floor(at * (points.length + 1));
  return Buffer.concat([
    Buffer.from(points.slice(0, index).join(''), 'utf8'),
    Buffer.from(bytes),
    Buffer.from(points.slice(index).join(''), 'utf8'),
  ]);
}

/** `text` with one hostile character inserted somewhere. */
export function withHostileChar(text: fc.Arbitrary<string>, chars: readonly string[] = HOSTILE_CHARS): fc.Arbitrary<string> {
  return fc.tuple(text, fc.constantFrom(...chars), fc.double({ min: 0, max: 1, noNaN: true })).map(([t, c, at]) => insertAt(t, c, at));
}

/** `text` as bytes with an invalid UTF-8 sequence inserted somewhere. */
export function withInvalidUtf8(text: fc.Arbitrary<string>): fc.Arbitrary<Buffer> {
  return fc
    .tuple(text, fc.constantFrom(...INVALID_UTF8), fc.double({ min: 0, max: 1, noNaN: true }))
    .map(([t, bytes, at]) => spliceBytes(t, bytes, at));
}

/** `[[[...]]]` nested `depth` levels. */
export function deeplyNested(depth: number, open = '[', close = ']'): string {
  return open.repeat(depth) + close.repeat(depth);
}

/** `{"a":{"a":...}}` nested `depth` levels. */
export function deeplyNestedObject(depth: number): string {
  return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

export function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Text that is not JSON: random strings, near misses, and JSON's usual impostors. */
export const notJson: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }).filter((s) => s.trim() !== '' && !isJson(s)),
  fc.constantFrom(
    '{', '{"a":1', "{'a':1}", '{"a":1,}', '[1,]', 'NaN', 'Infinity', '-Infinity', 'undefined', '0x10', '01', '--1', '+1',
    '"\u0000"', '"line\nbreak"', '"tab\there"', '{"a":1}{"b":2}', '\u00a0{}', '/* c */ 1', 'nul', 'True',
    deeplyNested(10_001).slice(0, -1), '{"__proto__":', '[' + '1,'.repeat(1000) + ']',
  ),
);

/** Valid JSON that a careless parser, merger or number handler gets wrong. */
export const awkwardJson: fc.Arbitrary<string> = fc.oneof(
  fc.json({ maxDepth: 4 }),
  fc.constantFrom(
    deeplyNested(10_000),
    deeplyNestedObject(10_000),
    '{"__proto__":{"polluted":true}}',
    '{"constructor":{"prototype":{"polluted":true}}}',
    '{"__proto__":null,"a":{"__proto__":[]}}',
    '[{"prototype":1},{"constructor":"x"}]',
    '1e308', '-1e308', '1e309', '-0', '0.1e-400', '9223372036854775808', '18446744073709551616', '-9223372036854775809',
    '"\\u0000\\r\\n\\u001b\\u2028 . * > "', '"\\ud800"', '"😀 é \u0301 \u202e"',
    ' \r\n\t{"a" : [ 1 , 2 ] }\r\n ', 'null', 'true', '""', '[]', '{}',
    '{"a":1,"a":2}',
  ),
);
