import { describe, expect, it } from 'vitest';
import { percentile, runPool, summarize } from './stats';

describe('bench statistics', () => {
  it('percentiles use the nearest rank', () => {
    const samples = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(samples, 50)).toBe(50);
    expect(percentile(samples, 95)).toBe(95);
    expect(percentile(samples, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
  });

  it('summaries sort their samples and divide by the elapsed seconds', () => {
    const summary = summarize('x', [30, 10, 20, 40], 2);
    expect(summary.p50Ms).toBe(20);
    expect(summary.throughputPerSecond).toBe(2);
  });

  it('the pool runs every index once and never more than the concurrency at a time', async () => {
    let active = 0;
    let peak = 0;
    const seen: number[] = [];
    await runPool(25, 4, async (index) => {
      active += 1;
      peak = Math.max(peak, active);
      seen.push(index);
      await new Promise((resolve) => setImmediate(resolve));
      active -= 1;
    });
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect(peak).toBe(4);
  });
});
