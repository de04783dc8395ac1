import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { waitAtMost } from './wait-at-most';

describe('waitAtMost', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is true as soon as the work settles, resolved or rejected', async () => {
    await expect(waitAtMost(Promise.resolve('done'), 1_000)).resolves.toBe(true);
    await expect(waitAtMost(Promise.reject(new Error('drain failed')), 1_000)).resolves.toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('gives up on work that never settles at its deadline, not before', async () => {
    let result: boolean | undefined;
    void waitAtMost(new Promise(() => undefined), 2_000).then((settled) => (result = settled));
    await vi.advanceTimersByTimeAsync(1_999);
    expect(result).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(result).toBe(false);
  });
});
