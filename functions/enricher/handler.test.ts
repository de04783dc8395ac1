import { describe, expect, it, vi } from 'vitest';
import { DependencyUnavailableError, ValidationError } from '../../shared/errors';
import { createHandler, MAX_BATCH_REQUESTS, parseEnrichRequest, REGIONS, SHARDS, toEnrichment, type EnricherDeps } from './handler';

const NOW = 1_700_000_000_000;

function setup(config: Partial<EnricherDeps['config']> = {}, random = () => 0.5) {
  const sleep = vi.fn(async (_ms: number) => undefined);
  const handler = createHandler({ config: { latencyMs: 0, errorRate: 0, ...config }, now: () => NOW, random, sleep });
  return { handler, sleep };
}

describe('enricher request parsing', () => {
  it.each([
    ['null', null, 'body'],
    ['an array', [], 'body'],
    ['no taskId', { type: 'echo' }, 'taskId'],
    ['an empty taskId', { taskId: '', type: 'echo' }, 'taskId'],
    ['a numeric type', { taskId: 't', type: 7 }, 'type'],
    ['metadata as a string', { taskId: 't', type: 'echo', metadata: 'x' }, 'metadata'],
    ['a non-string metadata value', { taskId: 't', type: 'echo', metadata: { n: 1 } }, 'metadata.n'],
  ])('refuses %s with a ValidationError naming the field', (_name, body, field) => {
    const error = (() => {
      try {
        parseEnrichRequest(body);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
    expect((error as Error).message).toContain(field);
  });

  it('treats missing metadata as empty', () => {
    expect(parseEnrichRequest({ taskId: 't', type: 'echo' })).toEqual({ taskId: 't', type: 'echo', metadata: {} });
  });
});

describe('enrichment', () => {
  it('is deterministic for the same task and differs between tasks', () => {
    const a = toEnrichment({ taskId: 'task-a', type: 'echo', metadata: {} }, NOW);
    expect(toEnrichment({ taskId: 'task-a', type: 'echo', metadata: {} }, NOW)).toEqual(a);
    const others = Array.from({ length: 20 }, (_, i) => toEnrichment({ taskId: `task-${i}`, type: 'echo', metadata: {} }, NOW));
    expect(new Set(others.map((e) => e.fingerprint)).size).toBe(20);
    expect(new Set(others.map((e) => e.region)).size).toBeGreaterThan(1);
    for (const e of [a, ...others]) {
      expect(REGIONS).toContain(e.region);
      expect(e.shard).toBeGreaterThanOrEqual(0);
      expect(e.shard).toBeLessThan(SHARDS);
      expect(e.fingerprint).toMatch(/^[0-9a-f]{16}$/);
      expect(e.tier).toBe('standard');
      expect(e.enrichedAtMs).toBe(NOW);
    }
  });

  it('honours a well-formed region and a known tier from the metadata, and ignores bad ones', () => {
    const asked = toEnrichment({ taskId: 't', type: 'echo', metadata: { region: 'sa-east', tier: 'premium' } }, NOW);
    expect(asked).toMatchObject({ region: 'sa-east', tier: 'premium' });
    const bad = toEnrichment({ taskId: 't', type: 'echo', metadata: { region: 'Not A Region!', tier: 'gold' } }, NOW);
    expect(REGIONS).toContain(bad.region);
    expect(bad.tier).toBe('standard');
  });
});

describe('enricher handler', () => {
  it('answers the enrichment of a valid request', async () => {
    const { handler } = setup();
    const answer = await handler.enrich({ taskId: 't', type: 'hash', metadata: { tier: 'free' } });
    expect(answer).toEqual({ enrichment: toEnrichment({ taskId: 't', type: 'hash', metadata: { tier: 'free' } }, NOW) });
  });

  it('waits the configured latency before answering', async () => {
    const { handler, sleep } = setup({ latencyMs: 150 });
    await handler.enrich({ taskId: 't', type: 'hash' });
    expect(sleep).toHaveBeenCalledWith(150);
  });

  it('fails with 503 when the random draw falls under the error rate, and succeeds otherwise', async () => {
    const draws = [0.1, 0.9];
    const { handler } = setup({ errorRate: 0.5 }, () => draws.shift()!);
    const error = await handler.enrich({ taskId: 't', type: 'hash' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as DependencyUnavailableError).httpStatus).toBe(503);
    await expect(handler.enrich({ taskId: 't', type: 'hash' })).resolves.toHaveProperty('enrichment');
  });

  it('refuses bad input at once, without latency or simulated failure', async () => {
    const { handler, sleep } = setup({ latencyMs: 100, errorRate: 1 }, () => 0);
    await expect(handler.enrich({ type: 'hash' })).rejects.toBeInstanceOf(ValidationError);
    expect(sleep).not.toHaveBeenCalled();
  });
});

describe('enricher handler, a batch', () => {
  const request = (taskId: string) => ({ taskId, type: 'hash', metadata: { tier: 'free' } });

  it('answers one outcome per request, in order: the enrichment, or the error a call of its own would have had', async () => {
    const { handler } = setup();
    const outcomes = await handler.enrichMany([request('a'), { type: 'hash' }, request('b')]);
    expect(outcomes[0]).toEqual({ enrichment: toEnrichment(request('a'), NOW) });
    expect((outcomes[1] as { error: Error }).error).toBeInstanceOf(ValidationError);
    expect((outcomes[1] as { error: Error }).error.message).toMatch(/taskId is required/);
    expect(outcomes[2]).toEqual({ enrichment: toEnrichment(request('b'), NOW) });
  });

  it('waits the configured latency once for the whole batch, and draws the simulated failure per request', async () => {
    const draws = [0.9, 0.1, 0.9];
    const { handler, sleep } = setup({ latencyMs: 150, errorRate: 0.5 }, () => draws.shift()!);
    const outcomes = await handler.enrichMany([request('a'), request('b'), request('c')]);
    expect(sleep).toHaveBeenCalledTimes(1);
    expect(outcomes.map((outcome) => ('error' in outcome ? outcome.error.constructor.name : 'enriched'))).toEqual([
      'enriched',
      'DependencyUnavailableError',
      'enriched',
    ]);
  });

  it.each([
    ['an object', { taskId: 't', type: 'hash' }, /must be a JSON array/],
    ['an empty array', [], /at least one request/],
    ['too many requests', Array.from({ length: MAX_BATCH_REQUESTS + 1 }, (_, i) => request(`t-${i}`)), new RegExp(`at most ${MAX_BATCH_REQUESTS} requests, got ${MAX_BATCH_REQUESTS + 1}`)],
  ])('refuses %s as a whole with a ValidationError, at once', async (_name, body, message) => {
    const { handler, sleep } = setup({ latencyMs: 100 });
    const error = await handler.enrichMany(body).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(message);
    expect(sleep).not.toHaveBeenCalled();
  });
});
