import { describe, expect, it, vi } from 'vitest';
import { DependencyUnavailableError } from '../../shared/errors';
import { createEnricherClient, toEnrichUrl } from './enricher-client';

const input = { taskId: 't-1', type: 'echo', metadata: { tier: 'free' } };

function fakeFetch(respond: () => Response | Promise<Response>) {
  return vi.fn<typeof fetch>(async () => respond());
}

describe('enricher client', () => {
  it('builds the /enrich URL from a base with or without a trailing slash or path', () => {
    expect(toEnrichUrl('http://127.0.0.1:8100')).toBe('http://127.0.0.1:8100/enrich');
    expect(toEnrichUrl('http://127.0.0.1:8100/')).toBe('http://127.0.0.1:8100/enrich');
    expect(toEnrichUrl('http://enricher.default.svc/api')).toBe('http://enricher.default.svc/api/enrich');
  });

  it('POSTs the input as JSON with the signal and returns the enrichment', async () => {
    const fetch = fakeFetch(() => Response.json({ enrichment: { region: 'eu-west' } }));
    const enrich = createEnricherClient({ url: 'http://enricher:8100', fetch });
    const signal = new AbortController().signal;
    await expect(enrich(input, signal)).resolves.toEqual({ region: 'eu-west' });
    const [url, init] = fetch.mock.calls[0]!;
    expect(url).toBe('http://enricher:8100/enrich');
    expect(init?.method).toBe('POST');
    expect(JSON.parse(String(init?.body))).toEqual(input);
    expect(init?.signal).toBe(signal);
  });

  it.each([
    ['a 503', () => new Response('{"error":"DEPENDENCY_UNAVAILABLE"}', { status: 503 }), /answered 503/],
    ['a 400', () => new Response('{"error":"VALIDATION_FAILED"}', { status: 400 }), /answered 400/],
    ['invalid JSON', () => new Response('<html>', { status: 200 }), /invalid JSON/],
    ['no enrichment', () => Response.json({ something: 'else' }), /without an enrichment/],
  ])('%s becomes a retryable DependencyUnavailableError', async (_name, respond, message) => {
    const enrich = createEnricherClient({ url: 'http://enricher:8100', fetch: fakeFetch(respond) });
    const error = await enrich(input, new AbortController().signal).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as Error).message).toMatch(message);
  });

  it('a connection error becomes a DependencyUnavailableError naming the URL', async () => {
    const fetch = vi.fn<typeof globalThis.fetch>(async () => {
      throw new TypeError('fetch failed');
    });
    const enrich = createEnricherClient({ url: 'http://enricher:8100', fetch });
    const error = await enrich(input, new AbortController().signal).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as Error).message).toContain('http://enricher:8100/enrich is unreachable: fetch failed');
  });
});
