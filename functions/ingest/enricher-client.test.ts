import { describe, expect, it, vi } from 'vitest';
import { DependencyUnavailableError } from '../../shared/errors';
import { createEnricherClient, toEnrichUrl } from './enricher-client';

const input = { taskId: 't-1', type: 'echo', metadata: { tier: 'free' } };

type Posted = { headers: Record<string, string>; body: string | Buffer | undefined; timeoutMs: number; signal?: AbortSignal };

/** A poster answering as `respond` does (a web Response, read as the poster reads a reply). */
function fakePoster(respond: () => Response | Promise<Response>) {
  const post = vi.fn(async (_request: Posted) => {
    const response = await respond();
    return { status: response.status, statusText: response.statusText, body: await response.text() };
  });
  return { post };
}

describe('enricher client', () => {
  it('builds the /enrich URL from a base with or without a trailing slash or path', () => {
    expect(toEnrichUrl('http://127.0.0.1:8100')).toBe('http://127.0.0.1:8100/enrich');
    expect(toEnrichUrl('http://127.0.0.1:8100/')).toBe('http://127.0.0.1:8100/enrich');
    expect(toEnrichUrl('http://enricher.default.svc/api')).toBe('http://enricher.default.svc/api/enrich');
  });

  it('POSTs the input as JSON with the signal and returns the enrichment', async () => {
    const poster = fakePoster(() => Response.json({ enrichment: { region: 'eu-west' } }));
    const enrich = createEnricherClient({ url: 'http://enricher:8100', poster });
    const signal = new AbortController().signal;
    await expect(enrich(input, signal)).resolves.toEqual({ region: 'eu-west' });
    const [request] = poster.post.mock.calls[0]!;
    expect(request.headers['content-type']).toBe('application/json');
    expect(JSON.parse(String(request.body))).toEqual(input);
    expect(request.signal).toBe(signal);
  });

  it.each([
    ['a 503', () => new Response('{"error":"DEPENDENCY_UNAVAILABLE"}', { status: 503 }), /answered 503/],
    ['a 400', () => new Response('{"error":"VALIDATION_FAILED"}', { status: 400 }), /answered 400/],
    ['invalid JSON', () => new Response('<html>', { status: 200 }), /invalid JSON/],
    ['no enrichment', () => Response.json({ something: 'else' }), /without an enrichment/],
  ])('%s becomes a retryable DependencyUnavailableError', async (_name, respond, message) => {
    const enrich = createEnricherClient({ url: 'http://enricher:8100', poster: fakePoster(respond) });
    const error = await enrich(input, new AbortController().signal).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as Error).message).toMatch(message);
  });

  it('a connection error becomes a DependencyUnavailableError naming the URL', async () => {
    const post = vi.fn(async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:8100');
    });
    const enrich = createEnricherClient({ url: 'http://enricher:8100', poster: { post } });
    const error = await enrich(input, new AbortController().signal).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as Error).message).toContain('http://enricher:8100/enrich is unreachable: connect ECONNREFUSED');
  });
});
