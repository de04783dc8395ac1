// The batch poster over a scripted poster: group commit (alone when idle, together under load),
// limits, each caller's own outcome, and the fall-backs.
import { describe, expect, it } from 'vitest';
import { createBatchPoster, toBatchResults, type BatchPosterOptions } from './batch-poster';

type Call = { events: { id: string }[]; answer: (status: number, body: unknown) => void; fail: (error: unknown) => void };

/** A poster whose answers the test gives, one request at a time. */
function scriptedFetch() {
  const calls: Call[] = [];
  const post = (async (request: { headers: Record<string, string>; body: string | Buffer | undefined }) => {
    expect(request.headers['content-type']).toBe('application/cloudevents-batch+json');
    const events = JSON.parse(String(request.body)) as { id: string }[];
    return new Promise<{ status: number; statusText: string; body: string }>((resolve, reject) => {
      calls.push({
        events,
        answer: (status, body) => resolve({ status, statusText: '', body: typeof body === 'string' ? body : JSON.stringify(body) }),
        fail: reject,
      });
    });
  });
  return { calls, fetch: post };
}

function poster(post: BatchPosterOptions['poster']['post'], options: Partial<BatchPosterOptions> = {}) {
  return createBatchPoster({ poster: { post }, requestTimeoutMs: 1_000, maxEvents: 3, maxBytes: 10_000, maxConcurrent: 1, ...options });
}

const event = (id: string, size = 0) => JSON.stringify({ id, pad: 'x'.repeat(size) });
const allOk = (call: Call) => call.answer(200, { results: call.events.map((e) => ({ id: e.id, status: 204 })) });
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('batch poster', () => {
  it('sends an event at the end of its turn when no request is in flight, and groups what arrives meanwhile', async () => {
    const { calls, fetch } = scriptedFetch();
    const batches = poster(fetch);
    const never = new AbortController().signal;
    const first = batches.post(event('a'), never);
    await tick();
    expect(calls.map((call) => call.events.map((e) => e.id))).toEqual([['a']]);
    const rest = ['b', 'c', 'd', 'e'].map((id) => batches.post(event(id), never));
    await tick();
    expect(calls).toHaveLength(1);
    allOk(calls[0]!);
    await first;
    await tick();
    // maxEvents 3: b, c, d together; e waits for that request.
    expect(calls.map((call) => call.events.map((e) => e.id))).toEqual([['a'], ['b', 'c', 'd']]);
    allOk(calls[1]!);
    await tick();
    allOk(calls[2]!);
    expect(await Promise.all(rest)).toEqual(Array(4).fill({ kind: 'answered', status: 204, body: '' }));
    expect(calls.map((call) => call.events.map((e) => e.id))).toEqual([['a'], ['b', 'c', 'd'], ['e']]);
  });

  it('gives each caller its own event’s status and error', async () => {
    const { calls, fetch } = scriptedFetch();
    const batches = poster(fetch, { maxConcurrent: 1 });
    const never = new AbortController().signal;
    const blocker = batches.post(event('a'), never);
    await tick();
    const pair = [batches.post(event('b'), never), batches.post(event('c'), never)];
    allOk(calls[0]!);
    await blocker;
    await tick();
    calls[1]!.answer(207, { results: [{ status: 204 }, { status: 400, error: 'VALIDATION_FAILED', message: 'data.state is wrong' }] });
    expect(await Promise.all(pair)).toEqual([
      { kind: 'answered', status: 204, body: '' },
      { kind: 'answered', status: 400, body: JSON.stringify({ error: 'VALIDATION_FAILED', message: 'data.state is wrong' }) },
    ]);
  });

  it('keeps a batch within maxBytes, but still sends an event bigger than that alone', async () => {
    const { calls, fetch } = scriptedFetch();
    const batches = poster(fetch, { maxBytes: 100, maxEvents: 10, maxConcurrent: 1 });
    const never = new AbortController().signal;
    const all = [batches.post(event('a'), never), batches.post(event('b', 40), never), batches.post(event('c', 40), never), batches.post(event('d', 500), never)];
    for (let i = 0; i < 3; i += 1) {
      await tick();
      allOk(calls[i]!);
    }
    await Promise.all(all);
    // a and b fit in 100 bytes together; c would not fit beside them; d is over the limit alone.
    expect(calls.map((call) => call.events.map((e) => e.id))).toEqual([['a', 'b'], ['c'], ['d']]);
  });

  it('says unbatched when the stage answers the request as a whole (no batch support, draining, too large)', async () => {
    for (const [status, body] of [
      [400, { error: 'UNSUPPORTED_EVENT', message: 'batched CloudEvents are not supported by this function' }],
      [503, { error: 'DRAINING' }],
      [413, 'too large'],
      [200, { results: [] }],
      [200, 'not json'],
    ] as const) {
      const { calls, fetch } = scriptedFetch();
      const pending = poster(fetch).post(event('a'), new AbortController().signal);
      await tick();
      calls[0]!.answer(status, body);
      expect(await pending, `${status} ${JSON.stringify(body)}`).toEqual({ kind: 'unbatched' });
    }
  });

  it('hands a failed request’s error to every caller in it', async () => {
    const { calls, fetch } = scriptedFetch();
    const pending = poster(fetch).post(event('a'), new AbortController().signal);
    await tick();
    const refused = new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
    calls[0]!.fail(refused);
    expect(await pending).toEqual({ kind: 'failed', error: refused });
  });

  it('lets a caller stop waiting on shutdown without holding up the others, and sends nothing for it later', async () => {
    const { calls, fetch } = scriptedFetch();
    const batches = poster(fetch, { maxConcurrent: 1 });
    const never = new AbortController().signal;
    const first = batches.post(event('a'), never);
    await tick();
    const shutdown = new AbortController();
    const given = batches.post(event('b'), shutdown.signal);
    const kept = batches.post(event('c'), never);
    shutdown.abort();
    expect(await given).toEqual({ kind: 'abandoned' });
    allOk(calls[0]!);
    await first;
    await tick();
    expect(calls[1]!.events.map((e) => e.id)).toEqual(['c']);
    allOk(calls[1]!);
    expect(await kept).toEqual({ kind: 'answered', status: 204, body: '' });
  });
});

describe('batch answers', () => {
  it('are read only when they hold one result per event', () => {
    expect(toBatchResults(200, '{"results":[{"status":204},{"status":500}]}', 2)).toEqual([{ status: 204 }, { status: 500 }]);
    expect(toBatchResults(207, '{"results":[{"status":204}]}', 2)).toBeUndefined();
    expect(toBatchResults(200, '{"results":[{"status":"204"}]}', 1)).toBeUndefined();
    expect(toBatchResults(500, '{"results":[{"status":204}]}', 1)).toBeUndefined();
    expect(toBatchResults(200, 'null', 1)).toBeUndefined();
  });
});
