import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { coalesceWrites } from './write-coalescing';

/** A stream that records each syscall-like call: one per _write, one per _writev. */
function recordingStream(): { stream: Writable; calls: string[][] } {
  const calls: string[][] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      calls.push([chunk.toString()]);
      done();
    },
    writev(chunks, done) {
      calls.push(chunks.map(({ chunk }) => (chunk as Buffer).toString()));
      done();
    },
  });
  return { stream, calls };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('coalesceWrites', () => {
  it('sends the writes of one turn, promise continuations included, as one writev at the end of it', async () => {
    const { stream, calls } = recordingStream();
    coalesceWrites(stream);
    stream.write('a');
    stream.write('b');
    await Promise.resolve();
    stream.write('c');
    expect(calls).toEqual([]);
    await nextTurn();
    expect(calls).toEqual([['a', 'b', 'c']]);
  });

  it('starts afresh in the next turn, and wraps a stream only once', async () => {
    const { stream, calls } = recordingStream();
    coalesceWrites(stream);
    coalesceWrites(stream);
    stream.write('a');
    await nextTurn();
    stream.write('b');
    stream.write('c');
    await nextTurn();
    expect(calls).toEqual([['a'], ['b', 'c']]);
  });

  it('without it, the first write of a turn goes out alone (what the wrapper saves)', async () => {
    const { stream, calls } = recordingStream();
    stream.write('a');
    stream.write('b');
    await nextTurn();
    expect(calls).toEqual([['a'], ['b']]);
  });
});
