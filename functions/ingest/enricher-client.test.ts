import { describe, expect, it, vi } from 'vitest';
import { DependencyUnavailableError } from '../../shared/errors';
import { createEnricherClient, MAX_BATCH_BYTES, MAX_BATCH_REQUESTS, toBatches, toEnrichBatchUrl, toEnrichUrl, type EnrichInput } from './enricher-client';

const inputOf = (taskId: string): EnrichInput => ({ taskId, type: 'echo', metadata: { tier: 'free' } });
const open = () => new AbortController().signal;

type Posted = { headers: Record<string, string>; body: string | Buffer | undefined; timeoutMs: number };

/** A poster answering as `respond` does for each request body it gets. */
function fakePoster(respond: (body: unknown) => Response | Promise<Response>) {
  const post = vi.fn(async (request: Posted) => {
    const response = await respond(JSON.parse(String(request.body)));
    return { status: response.status, statusText: response.statusText, body: await response.text() };
  });
  return { post };
}

/** A batch route that enriches each request with its own task id. */
const enrichingBatches = () =>
  fakePoster((body) => Response.json({ results: (body as EnrichInput[]).map((item) => ({ status: 200, enrichment: { for: item.taskId } })) }));

const failure = async (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error as Error);

describe('enricher client', () => {
  it('builds the /enrich and /enrich/batch URLs from a base with or without a trailing slash or path', () => {
    expect(toEnrichUrl('http://127.0.0.1:8100')).toBe('http://127.0.0.1:8100/enrich');
    expect(toEnrichUrl('http://127.0.0.1:8100/')).toBe('http://127.0.0.1:8100/enrich');
    expect(toEnrichUrl('http://enricher.default.svc/api')).toBe('http://enricher.default.svc/api/enrich');
    expect(toEnrichBatchUrl('http://enricher.default.svc/api/')).toBe('http://enricher.default.svc/api/enrich/batch');
  });

  it("sends the calls of one turn as one batch and gives each caller its own request's enrichment", async () => {
    const batchPoster = enrichingBatches();
    const poster = fakePoster(() => Response.json({}));
    const enrich = createEnricherClient({ url: 'http://enricher:8100', poster, batchPoster, timeoutMs: 1_500 });

    const answers = await Promise.all(['t-1', 't-2', 't-3'].map((id) => enrich(inputOf(id), open())));

    expect(answers).toEqual([{ for: 't-1' }, { for: 't-2' }, { for: 't-3' }]);
    expect(batchPoster.post).toHaveBeenCalledTimes(1);
    expect(poster.post).not.toHaveBeenCalled();
    const [request] = batchPoster.post.mock.calls[0]!;
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.timeoutMs).toBe(1_500);
    expect(JSON.parse(String(request.body))).toEqual([inputOf('t-1'), inputOf('t-2'), inputOf('t-3')]);
  });

  it('sends the calls of a later turn in a batch of their own, without waiting for the first', async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let calls = 0;
    const batchPoster = fakePoster(async (body) => {
      calls += 1;
      if (calls === 1) await held;
      return Response.json({ results: (body as EnrichInput[]).map((item) => ({ status: 200, enrichment: { for: item.taskId } })) });
    });
    const enrich = createEnricherClient({ url: 'http://enricher:8100', batchPoster });
    const first = enrich(inputOf('t-1'), open());
    await new Promise((resolve) => setImmediate(resolve));
    await expect(enrich(inputOf('t-2'), open())).resolves.toEqual({ for: 't-2' });
    release();
    await expect(first).resolves.toEqual({ for: 't-1' });
    expect(batchPoster.post).toHaveBeenCalledTimes(2);
  });

  it('fails only the request the enricher failed, with its status and reason', async () => {
    const batchPoster = fakePoster(() =>
      Response.json({
        results: [
          { status: 200, enrichment: { region: 'eu-west' } },
          { status: 503, error: 'DEPENDENCY_UNAVAILABLE', message: 'enricher failed (simulated by ENRICHER_ERROR_RATE)' },
          { status: 400, error: 'VALIDATION_FAILED', message: 'taskId must be at most 256 characters' },
        ],
      }),
    );
    const enrich = createEnricherClient({ url: 'http://enricher:8100', batchPoster });
    const [ok, failed, refused] = [enrich(inputOf('t-1'), open()), enrich(inputOf('t-2'), open()), enrich(inputOf('t-3'), open())];
    await expect(ok).resolves.toEqual({ region: 'eu-west' });
    const error = await failure(failed);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect(error?.message).toBe('enricher answered 503: DEPENDENCY_UNAVAILABLE: enricher failed (simulated by ENRICHER_ERROR_RATE)');
    expect((await failure(refused))?.message).toMatch(/answered 400: VALIDATION_FAILED: taskId must be/);
  });

  it.each([
    ['a 503', () => new Response('{"error":"DEPENDENCY_UNAVAILABLE"}', { status: 503 }), /answered 503/],
    ['a 400', () => new Response('{"error":"VALIDATION_FAILED"}', { status: 400 }), /answered 400/],
    ['invalid JSON', () => new Response('<html>', { status: 200 }), /invalid JSON/],
    ['too few results', () => Response.json({ results: [{ status: 200, enrichment: {} }] }), /batch of 2 without one result per request/],
    ['a result without enrichment', () => Response.json({ results: [{ status: 200 }, { status: 200 }] }), /without an enrichment/],
  ])('%s for the batch fails each of its requests with a retryable DependencyUnavailableError', async (_name, respond, message) => {
    const enrich = createEnricherClient({ url: 'http://enricher:8100', batchPoster: fakePoster(respond) });
    const errors = await Promise.all([failure(enrich(inputOf('t-1'), open())), failure(enrich(inputOf('t-2'), open()))]);
    for (const error of errors) {
      expect(error).toBeInstanceOf(DependencyUnavailableError);
      expect(error?.message).toMatch(message);
    }
  });

  it('a connection error fails every request of the batch, naming the URL', async () => {
    const post = vi.fn(async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:8100');
    });
    const enrich = createEnricherClient({ url: 'http://enricher:8100', batchPoster: { post } });
    const error = await failure(enrich(inputOf('t-1'), open()));
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect(error?.message).toContain('http://enricher:8100/enrich/batch is unreachable: connect ECONNREFUSED');
  });

  it('an enricher without the batch route (404) gets one POST /enrich per request, then and from then on', async () => {
    const batchPoster = fakePoster(() => new Response('not found', { status: 404 }));
    const poster = fakePoster((body) => Response.json({ enrichment: { for: (body as EnrichInput).taskId } }));
    const enrich = createEnricherClient({ url: 'http://enricher:8100', poster, batchPoster });

    await expect(Promise.all([enrich(inputOf('t-1'), open()), enrich(inputOf('t-2'), open())])).resolves.toEqual([{ for: 't-1' }, { for: 't-2' }]);
    await expect(enrich(inputOf('t-3'), open())).resolves.toEqual({ for: 't-3' });

    expect(batchPoster.post).toHaveBeenCalledTimes(1);
    expect(poster.post.mock.calls.map(([request]) => JSON.parse(String(request.body)).taskId)).toEqual(['t-1', 't-2', 't-3']);
  });

  it('a batch over the body limit (413) is sent again one request at a time; the next turn batches again', async () => {
    let batches = 0;
    const batchPoster = fakePoster((body) => {
      batches += 1;
      return batches === 1
        ? new Response('too large', { status: 413 })
        : Response.json({ results: (body as EnrichInput[]).map((item) => ({ status: 200, enrichment: { for: item.taskId } })) });
    });
    const poster = fakePoster((body) => Response.json({ enrichment: { alone: (body as EnrichInput).taskId } }));
    const enrich = createEnricherClient({ url: 'http://enricher:8100', poster, batchPoster });

    await expect(Promise.all([enrich(inputOf('t-1'), open()), enrich(inputOf('t-2'), open())])).resolves.toEqual([{ alone: 't-1' }, { alone: 't-2' }]);
    await expect(enrich(inputOf('t-3'), open())).resolves.toEqual({ for: 't-3' });
    expect(batchPoster.post).toHaveBeenCalledTimes(2);
  });

  it("an aborted caller stops waiting at once with the abort's reason; the others get their answers", async () => {
    const batchPoster = enrichingBatches();
    const enrich = createEnricherClient({ url: 'http://enricher:8100', batchPoster });
    const controller = new AbortController();
    const given = enrich(inputOf('t-1'), controller.signal);
    const kept = enrich(inputOf('t-2'), open());
    controller.abort(new Error('enricher did not answer within 5 ms'));

    const error = await failure(given);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect(error?.message).toMatch(/unreachable: enricher did not answer within 5 ms/);
    await expect(kept).resolves.toEqual({ for: 't-2' });
    // The aborted call left the queue before the batch went out.
    expect(JSON.parse(String(batchPoster.post.mock.calls[0]![0].body))).toEqual([inputOf('t-2')]);
    await expect(failure(enrich(inputOf('t-3'), AbortSignal.abort(new Error('gone'))))).resolves.toBeInstanceOf(DependencyUnavailableError);
  });

  it('splits a large turn into batches of at most MAX_BATCH_REQUESTS requests and MAX_BATCH_BYTES', () => {
    const small = Array.from({ length: MAX_BATCH_REQUESTS * 2 + 1 }, (_, index) => ({ json: `{"i":${index}}` }));
    expect(toBatches(small).map((batch) => batch.length)).toEqual([MAX_BATCH_REQUESTS, MAX_BATCH_REQUESTS, 1]);
    const large = Array.from({ length: 3 }, () => ({ json: 'x'.repeat(MAX_BATCH_BYTES / 2) }));
    expect(toBatches(large).map((batch) => batch.length)).toEqual([1, 1, 1]);
    const huge = [{ json: 'x'.repeat(MAX_BATCH_BYTES * 2) }];
    expect(toBatches(huge)).toEqual([huge]);
  });
});
