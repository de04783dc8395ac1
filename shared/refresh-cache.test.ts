import { describe, expect, it } from 'vitest';
import { createRefreshCache } from './refresh-cache';

function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(error: unknown): void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A cache over a loader that counts its calls and answers 1, 2, 3, … */
function counting(ttlMs: number) {
  const clock = { ms: 10_000 };
  let loads = 0;
  const get = createRefreshCache({ ttlMs, now: () => clock.ms, load: async () => ++loads });
  return { get, clock, loads: () => loads };
}

describe('refresh cache', () => {
  it('serves a loaded value until ttlMs has passed since its load started, then loads again', async () => {
    const cache = counting(1_000);
    expect(await cache.get()).toBe(1);
    cache.clock.ms += 999;
    expect(await cache.get()).toBe(1);
    cache.clock.ms += 1;
    expect(await cache.get()).toBe(2);
    expect(cache.loads()).toBe(2);
  });

  it('when the clock steps back, loads again rather than keeping an old value', async () => {
    const cache = counting(1_000);
    await cache.get();
    cache.clock.ms -= 60_000;
    expect(await cache.get()).toBe(2);
  });

  it('with ttlMs 0, loads on every call', async () => {
    const cache = counting(0);
    expect([await cache.get(), await cache.get()]).toEqual([1, 2]);
  });

  it('callers that arrive while a load runs share it: one load for all', async () => {
    const pending = deferred<string>();
    let loads = 0;
    const get = createRefreshCache({ ttlMs: 0, now: () => 0, load: () => (loads++, pending.promise) });
    const callers = Array.from({ length: 5 }, () => get());
    pending.resolve('v');
    expect(await Promise.all(callers)).toEqual(['v', 'v', 'v', 'v', 'v']);
    expect(loads).toBe(1);
  });

  it('a failed load reaches every caller that shared it, is not kept, and the next call loads again', async () => {
    const first = deferred<string>();
    const answers = [first.promise, Promise.resolve('ok')];
    const get = createRefreshCache({ ttlMs: 60_000, now: () => 0, load: () => answers.shift()! });
    const callers = [get(), get()];
    first.reject(new Error('nats down'));
    for (const caller of callers) await expect(caller).rejects.toThrow('nats down');
    expect(await get()).toBe('ok');
  });

  it('a loader that throws before its first await does not wedge the cache', async () => {
    let calls = 0;
    const get = createRefreshCache({
      ttlMs: 60_000,
      now: () => 0,
      load: () => {
        calls += 1;
        if (calls === 1) throw new Error('sync failure');
        return Promise.resolve('ok');
      },
    });
    await expect(get()).rejects.toThrow('sync failure');
    expect(await get()).toBe('ok');
  });
});
