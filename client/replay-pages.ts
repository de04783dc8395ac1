// A replay by filter, page after page: ReplayDeadLetters takes at most one page (1000 dead
// letters) per call and answers a token for the rest. `tm dlq replay --all` and the web
// dashboard's "replay all" both go through every page with this, up to `maxPages`.
import type { ReplayQuery, ReplayResult } from './types';

export async function replayEveryPage(
  replay: (query: ReplayQuery) => Promise<ReplayResult>,
  query: ReplayQuery,
  maxPages = Number.POSITIVE_INFINITY,
): Promise<ReplayResult> {
  const total: ReplayResult = { replayed: 0, taskIds: [], alreadyReplayed: 0, wouldReplay: [], skipped: [], nextPageToken: undefined };
  let pageToken: string | undefined;
  for (let page = 0; page < maxPages; page += 1) {
    const result = await replay({ ...query, ...(pageToken ? { pageToken } : {}) });
    total.replayed += result.replayed;
    total.taskIds.push(...result.taskIds);
    total.alreadyReplayed += result.alreadyReplayed;
    total.wouldReplay.push(...result.wouldReplay);
    total.skipped.push(...result.skipped);
    pageToken = result.nextPageToken;
    if (!pageToken) break;
  }
  // A token left over: maxPages ended it before the last page.
  total.nextPageToken = pageToken;
  return total;
}
