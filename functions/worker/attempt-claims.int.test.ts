// The attempt claims on a real redis-server: one run holds a task at a time, its hold lapses
// unless renewed, only the holder renews or lets go, and outcomes outlive the hold.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisClient as Redis } from '../../shared/redis-client';
import { KEYS } from '../../shared/contract';
import { waitFor } from '../../test/helpers/ports';
import { startRedisServer, type TestServer } from '../../test/helpers/servers';
import { createRedisAttemptClaims, MAX_RUN_LEASE_MS, toClaimState, toRunLeaseMs } from './attempt-claims';

describe('attempt claims on Redis', () => {
  let server: TestServer;
  let redis: Redis;

  beforeAll(async () => {
    server = await startRedisServer();
    redis = new Redis(server.url);
  });

  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  it('one run holds the task, as any attempt; the hold lapses unless renewed, and then another run takes it', async () => {
    const claims = createRedisAttemptClaims(redis, { leaseMs: 300, keepMs: 60_000 });
    expect(await claims.take('e-1', 1, 'a')).toBe(true);
    expect(await claims.take('e-1', 1, 'b')).toBe(false);
    expect(await claims.take('e-1', 2, 'b')).toBe(false);
    expect(await claims.read('e-1', 2)).toBe('running');

    // Renewed by its holder the hold outlives its first term; renewals by others change nothing.
    const started = Date.now();
    while (Date.now() - started < 600) {
      await claims.renew('e-1', 1, 'a');
      await claims.renew('e-1', 2, 'a');
      await claims.renew('e-1', 1, 'b');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await claims.read('e-1', 1)).toBe('running');

    await waitFor('the unrenewed hold to lapse', async () => (await claims.read('e-1', 1)) === undefined, 5_000, 50);
    expect(await claims.take('e-1', 1, 'b')).toBe(true);
  });

  it('only the holder lets go; a failed attempt is not taken again, and once ended no attempt is', async () => {
    const claims = createRedisAttemptClaims(redis, { leaseMs: 200, keepMs: 60_000 });
    await claims.take('e-2', 1, 'a');
    await claims.release('e-2', 1, 'other');
    expect(await claims.read('e-2', 1)).toBe('running');
    await claims.release('e-2', 1, 'a');
    expect(await claims.read('e-2', 1)).toBeUndefined();

    expect(await claims.take('e-2', 1, 'a')).toBe(true);
    await claims.settle('e-2', 1, 'retrying', 'a');
    expect(await claims.read('e-2', 1)).toBe('retrying');
    expect(await claims.take('e-2', 1, 'b')).toBe(false);
    expect(await claims.read('e-2', 2)).toBeUndefined();

    expect(await claims.take('e-2', 2, 'b')).toBe(true);
    await claims.settle('e-2', 2, 'ended', 'b');
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const attempt of [1, 2, 3]) expect(await claims.read('e-2', attempt)).toBe('ended');
    expect(await claims.take('e-2', 3, 'c')).toBe(false);
    expect(await redis.pttl(KEYS.processed('worker', 'e-2:ended'))).toBeGreaterThan(50_000);
    expect(await redis.exists(KEYS.processed('worker', 'e-2:run'))).toBe(0);
  });

  it('reads an attempt marker written before leases existed as an ended attempt', async () => {
    expect(toClaimState({ run: null, attempt: '1', ended: null })).toBe('ended');
    await redis.set(KEYS.processed('worker', 'e-3:1'), '1');
    const claims = createRedisAttemptClaims(redis, { leaseMs: 200, keepMs: 1_000 });
    expect(await claims.read('e-3', 1)).toBe('ended');
    expect(await claims.take('e-3', 1, 'a')).toBe(false);
  });

  it('a run’s lease is AckWait, at most 10 s, so a worker crash delays the retry by that much at most', () => {
    expect(toRunLeaseMs(3_000)).toBe(3_000);
    expect(toRunLeaseMs(30_000)).toBe(MAX_RUN_LEASE_MS);
  });
});
