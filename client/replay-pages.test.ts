import { describe, expect, it, vi } from 'vitest';
import { replayEveryPage } from './replay-pages';
import type { ReplayQuery, ReplayResult } from './types';

function page(n: number, next: string | undefined): ReplayResult {
  return { replayed: 2, taskIds: [`t${n}a`, `t${n}b`], alreadyReplayed: 1, wouldReplay: [], skipped: [{ id: `d${n}`, reason: 'gone' }], nextPageToken: next };
}

describe('replayEveryPage', () => {
  it('follows the tokens to the last page and adds the pages up', async () => {
    const replay = vi.fn(async (query: ReplayQuery) => (query.pageToken === undefined ? page(1, 'p2') : page(2, undefined)));
    const total = await replayEveryPage(replay, { type: 'fail' });
    expect(replay.mock.calls.map(([query]) => query)).toEqual([{ type: 'fail' }, { type: 'fail', pageToken: 'p2' }]);
    expect(total).toEqual({
      replayed: 4,
      taskIds: ['t1a', 't1b', 't2a', 't2b'],
      alreadyReplayed: 2,
      wouldReplay: [],
      skipped: [{ id: 'd1', reason: 'gone' }, { id: 'd2', reason: 'gone' }],
      nextPageToken: undefined,
    });
  });

  it('stops after maxPages and hands back the token of the rest', async () => {
    const replay = vi.fn(async () => page(1, 'more'));
    const total = await replayEveryPage(replay, {}, 3);
    expect(replay).toHaveBeenCalledTimes(3);
    expect(total.nextPageToken).toBe('more');
  });
});
