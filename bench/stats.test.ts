import { describe, expect, it } from 'vitest';
import { median, percentile, runPool, summarize } from './stats';

describe('bench statistics', () => {
  it('percentiles use the nearest rank', () => {
    const samples = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(samples, 50)).toBe(50);
    expect(percentile(samples, 95)).toBe(95);
    expect(percentile(samples, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('the median sorts its samples first', () => {
    expect(median([30, 10, 20])).toBe(20);
    expect(median([40, 10, 30, 20])).toBe(20);
  });

  it('summaries count the tasks that ended well and divide them by the elapsed seconds', () => {
    const summary = summarize('x', { requested: 5, latenciesMs: [30, 10, 20, 40], failed: 1, firstFailure: 'boom', capped: false }, 2);
    expect(summary).toMatchObject({ tasks: 4, failed: 1, firstFailure: 'boom', requested: 5, p50Ms: 20, throughputPerSecond: 2 });
  });

  it('the pool runs every index once and never more than the concurrency at a time', async () => {
    let active = 0;
    let peak = 0;
    const seen: number[] = [];
    const result = await runPool(25, 4, async (index) => {
      active += 1;
      peak = Math.max(peak, active);
      seen.push(index);
      await new Promise((resolve) => setImmediate(resolve));
      active -= 1;
    });
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect(peak).toBe(4);
    expect(result).toMatchObject({ requested: 25, failed: 0, capped: false });
    expect(result.latenciesMs).toHaveLength(25);
  });

  it('when a task fails, the pool counts it, keeps the first message and runs the rest', async () => {
    const result = await runPool(10, 3, async (index) => {
      if (index % 5 === 0) throw new Error(`task ${index} failed`);
    });
    expect(result.failed).toBe(2);
    expect(result.firstFailure).toMatch(/^task (0|5) failed$/);
    expect(result.latenciesMs).toHaveLength(8);
  });

  it('when the deadline passes, no task starts any more and the run says it was capped', async () => {
    let clock = 0;
    const result = await runPool(
      100,
      2,
      async () => {
        clock += 10;
      },
      { deadlineMs: 55, now: () => clock },
    );
    // Each task advances the clock by 10 ms; the ones started before 55 ms finish.
    expect(result.capped).toBe(true);
    expect(result.latenciesMs.length).toBeGreaterThan(0);
    expect(result.latenciesMs.length).toBeLessThan(10);
  });
});
