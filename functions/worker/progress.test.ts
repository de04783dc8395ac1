import { describe, expect, it } from 'vitest';
import { createProgressReporter, toPercent } from './progress';

function setup(options: { failing?: boolean } = {}) {
  let now = 1_000;
  const published: number[] = [];
  const errors: unknown[] = [];
  const reporter = createProgressReporter({
    publish: async (percent) => {
      if (options.failing) throw new Error('nats down');
      published.push(percent);
    },
    onError: (error) => errors.push(error),
    now: () => now,
    minIntervalMs: 100,
  });
  return { reporter, published, errors, advance: (ms: number) => (now += ms) };
}

describe('progress reporter', () => {
  it('clamps to 0..100 and rounds', () => {
    expect([-5, 0, 33.4, 99.6, 250].map(toPercent)).toEqual([0, 0, 33, 100, 100]);
  });

  it('publishes only when progress grew, at most once per interval', async () => {
    const { reporter, published, advance } = setup();
    advance(100);
    await reporter.report(10);
    await reporter.report(20); // too soon
    advance(100);
    await reporter.report(5); // not higher than 10
    await reporter.report(30);
    advance(50);
    await reporter.report(40); // too soon
    expect(published).toEqual([10, 30]);
  });

  it('100 always goes out, even right after another report', async () => {
    const { reporter, published, advance } = setup();
    advance(100);
    await reporter.report(90);
    await reporter.report(150);
    expect(published).toEqual([90, 100]);
  });

  it('ignores reports after close, and never rejects when publishing fails', async () => {
    const failing = setup({ failing: true });
    failing.advance(100);
    await expect(failing.reporter.report(50)).resolves.toBeUndefined();
    expect(failing.errors).toHaveLength(1);

    const { reporter, published } = setup();
    reporter.close();
    await reporter.report(100);
    expect(published).toEqual([]);
  });
});
