// The enricher as a real HTTP server on a free port (no NATS or Redis needed).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEnricher, type RunningEnricher } from './server';

const post = (port: number, body: string, contentType = 'application/json') =>
  fetch(`http://127.0.0.1:${port}/enrich`, { method: 'POST', headers: { 'content-type': contentType }, body });

describe('enricher server', () => {
  let enricher: RunningEnricher;
  let failing: RunningEnricher;

  beforeAll(async () => {
    enricher = await startEnricher({ PORT: '0', LOG_LEVEL: 'silent', ENRICHER_BODY_LIMIT_BYTES: '2048' });
    failing = await startEnricher({ PORT: '0', LOG_LEVEL: 'silent', ENRICHER_ERROR_RATE: '1' });
  });

  afterAll(async () => {
    await enricher?.stop();
    await failing?.stop();
  });

  it('answers 200 with the enrichment of a valid request', async () => {
    const response = await post(enricher.port, JSON.stringify({ taskId: 't-1', type: 'echo', metadata: { tier: 'premium' } }));
    expect(response.status).toBe(200);
    const body = (await response.json()) as { enrichment: Record<string, unknown> };
    expect(body.enrichment).toMatchObject({ tier: 'premium', region: expect.any(String), shard: expect.any(Number) });
    expect(typeof body.enrichment.enrichedAtMs).toBe('number');
  });

  it('answers 400 for a body that is not JSON', async () => {
    const response = await post(enricher.port, '{"taskId": ');
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toMatch(/not valid JSON/);
  });

  it('answers 400 naming the missing field', async () => {
    const response = await post(enricher.port, JSON.stringify({ type: 'echo' }));
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'VALIDATION_FAILED', message: expect.stringContaining('taskId') });
  });

  it('answers 413 for a body over the limit', async () => {
    const response = await post(enricher.port, JSON.stringify({ taskId: 't', type: 'echo', metadata: { big: 'x'.repeat(4096) } }));
    expect(response.status).toBe(413);
  });

  it('answers 400 for a corrupt gzip body and 415 for an unknown encoding (the caller must not retry them)', async () => {
    const send = (encoding: string) =>
      fetch(`http://127.0.0.1:${enricher.port}/enrich`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-encoding': encoding },
        body: JSON.stringify({ taskId: 't', type: 'echo' }),
      });
    const corrupt = await send('gzip');
    expect(corrupt.status).toBe(400);
    expect(((await corrupt.json()) as { message: string }).message).toMatch(/incorrect header check|gzip|unexpected end/i);
    const unknown = await send('compress');
    expect(unknown.status).toBe(415);
    expect(((await unknown.json()) as { message: string }).message).toMatch(/unsupported content encoding "compress"/);
  });

  it('answers 503 when the simulated error rate strikes', async () => {
    const response = await post(failing.port, JSON.stringify({ taskId: 't', type: 'echo' }));
    expect(response.status).toBe(503);
  });

  it('answers a batch with one result per request, in order, each as its own call would have been answered', async () => {
    const response = await fetch(`http://127.0.0.1:${enricher.port}/enrich/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ taskId: 't-1', type: 'echo', metadata: { tier: 'premium' } }, { type: 'echo' }]),
    });
    expect(response.status).toBe(200);
    const { results } = (await response.json()) as { results: Array<Record<string, unknown>> };
    expect(results).toHaveLength(2);
    expect(results[0]).toMatchObject({ status: 200, enrichment: { tier: 'premium', region: expect.any(String) } });
    expect(results[1]).toMatchObject({ status: 400, error: 'VALIDATION_FAILED', message: expect.stringContaining('taskId') });
  });

  it('answers a batch with 400 when the body is not an array, and fails each request when the error rate strikes', async () => {
    const notArray = await fetch(`http://127.0.0.1:${enricher.port}/enrich/batch`, { method: 'POST', body: JSON.stringify({ taskId: 't', type: 'echo' }) });
    expect(notArray.status).toBe(400);
    expect(await notArray.json()).toMatchObject({ error: 'VALIDATION_FAILED', message: expect.stringContaining('JSON array') });
    const struck = await fetch(`http://127.0.0.1:${failing.port}/enrich/batch`, { method: 'POST', body: JSON.stringify([{ taskId: 't', type: 'echo' }]) });
    expect(struck.status).toBe(200);
    expect(await struck.json()).toEqual({ results: [{ status: 503, error: 'DEPENDENCY_UNAVAILABLE', message: expect.stringContaining('simulated') }] });
  });

  it('serves liveness and readiness', async () => {
    expect((await fetch(`http://127.0.0.1:${enricher.port}/health/liveness`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${enricher.port}/health/readiness`)).status).toBe(200);
  });

  it('on stop, a call in flight still gets its answer, and then the port is closed', async () => {
    let release: (() => void) | undefined;
    let started: (() => void) | undefined;
    const inFlight = new Promise<void>((resolve) => (started = resolve));
    const extra = await startEnricher(
      { PORT: '0', LOG_LEVEL: 'silent', ENRICHER_LATENCY_MS: '1' },
      {
        sleep: () => {
          started?.();
          return new Promise<void>((resolve) => (release = resolve));
        },
      },
    );
    const call = post(extra.port, JSON.stringify({ taskId: 't', type: 'echo' }));
    await inFlight;
    const stopped = extra.stop();
    release?.();
    expect((await call).status).toBe(200);
    await stopped;
    await expect(fetch(`http://127.0.0.1:${extra.port}/health/readiness`)).rejects.toThrow();
  });

  it('refuses invalid settings, listing every problem', async () => {
    await expect(startEnricher({ PORT: '0', ENRICHER_ERROR_RATE: '2', ENRICHER_LATENCY_MS: 'slow' })).rejects.toThrow(
      /ENRICHER_LATENCY_MS must be an integer[\s\S]*ENRICHER_ERROR_RATE must be <= 1|ENRICHER_ERROR_RATE must be <= 1[\s\S]*ENRICHER_LATENCY_MS/,
    );
  });
});
