import { describe, expect, it } from 'vitest';
import { pollTerminal } from './burst';

/** A fake Redis read: the states it knows, and the chunks it was asked for. */
function fakeRead(states: Record<string, string>) {
  const asked: string[][] = [];
  const read = async (ids: readonly string[]) => {
    asked.push([...ids]);
    return ids.map((id) => states[id]);
  };
  return { read, asked };
}

const ids = ['a', 'b', 'c', 'd', 'e', 'f'];

describe('the burst drain poll', () => {
  it('reads on while whole chunks are terminal and stops at the first chunk with an open task', async () => {
    const { read, asked } = fakeRead({ a: 'SUCCEEDED', b: 'FAILED', c: 'SUCCEEDED', d: 'RUNNING', e: 'SUCCEEDED' });
    const seen = new Map<string, string>();
    const open = await pollTerminal(read, ids, seen, { chunkSize: 2 });
    expect(asked).toEqual([['a', 'b'], ['c', 'd']]);
    // e ended out of order: it is found when the frontier reaches it.
    expect(open).toEqual(['d', 'e', 'f']);
    expect(Object.fromEntries(seen)).toEqual({ a: 'SUCCEEDED', b: 'FAILED', c: 'SUCCEEDED' });
  });

  it('never reads a terminal task again, and ends with nothing open once all are terminal', async () => {
    const states: Record<string, string> = { a: 'SUCCEEDED' };
    const { read, asked } = fakeRead(states);
    const seen = new Map<string, string>();
    let open = await pollTerminal(read, ids, seen, { chunkSize: 4 });
    for (const id of ids) states[id] = 'SUCCEEDED';
    open = await pollTerminal(read, open, seen, { chunkSize: 4 });
    expect(open).toEqual([]);
    expect(asked.flat().filter((id) => id === 'a')).toHaveLength(1);
    expect(seen.size).toBe(6);
  });

  it('a sweep reads every open task, so tasks that ended out of order are counted', async () => {
    const { read, asked } = fakeRead({ a: 'SUCCEEDED', e: 'SUCCEEDED' });
    const seen = new Map<string, string>();
    const open = await pollTerminal(read, ids, seen, { chunkSize: 2, sweep: true });
    expect(asked).toEqual([['a', 'b'], ['c', 'd'], ['e', 'f']]);
    expect(open).toEqual(['b', 'c', 'd', 'f']);
    expect([...seen.keys()]).toEqual(['a', 'e']);
  });

  it('a task without a status yet is still open', async () => {
    const { read } = fakeRead({});
    expect(await pollTerminal(read, ['x'], new Map())).toEqual(['x']);
  });
});
