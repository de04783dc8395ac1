import { describe, expect, it } from 'vitest';
import { createProgressReporter, toPercent } from './progress';

function setup(options: { failing?: boolean } = {}) {
  let now = 1_000;
  const published: number[] = [];
  const timers: { at: number; fn: () => void; cancelled: boolean }[] = [];
  const errors: unknown[] = [];
  const reporter = createProgressReporter({
    publish: async (percent) => {
      if (options.failing) throw new Error('nats down');
      published.push(percent);
    },
    onError: (error) => errors.push(error),
    now: () => now,
    minIntervalMs: 100,
    schedule: (fn, ms) => {
      const timer = { at: now + ms, fn, cancelled: false };
      timers.push(timer);
      return () => (timer.cancelled = true);
    },
  });
  /** Moves the clock on and fires the timers that came due. */
  const advance = (ms: number) => {
    now += ms;
    for (const timer of timers.splice(0)) {
      if (timer.cancelled) continue;
      if (timer.at <= now) timer.fn();
      else timers.push(timer);
    }
  };
  return { reporter, published, errors, advance, pendingTimers: () => timers.filter((timer) => !timer.cancelled).length };
}

describe('progress reporter', () => {
  it('clamps to 0..100 and rounds', () => {
    expect([-5, 0, 33.4, 99.6, 250].map(toPercent)).toEqual([0, 0, 33, 100, 100]);
  });

  it('publishes only when progress grew, at most once per interval', async () => {
    const { reporter, published, advance } = setup();
    advance(100);
    await reporter.report(10);
    await reporter.report(20); // too soon: held
    await reporter.report(15); // lower than the one held
    advance(100); // the held 20 goes out
    await reporter.report(5); // not higher than 20
    advance(100);
    await reporter.report(30);
    advance(50);
    await reporter.report(40); // too soon: held
    expect(published).toEqual([10, 20, 30]);
  });

  it('a report held back by the interval goes out once it has passed, with its message', async () => {
    const messages: (string | undefined)[] = [];
    let now = 0;
    let fire: (() => void) | undefined;
    const reporter = createProgressReporter({
      publish: async (_percent, message) => void messages.push(message),
      onError: () => undefined,
      now: () => now,
      minIntervalMs: 100,
      schedule: (fn) => {
        fire = fn;
        return () => (fire = undefined);
      },
    });
    await reporter.report(10, 'started'); // right after RUNNING: held
    expect(messages).toEqual([]);
    now = 100;
    fire!();
    expect(messages).toEqual(['started']);
  });

  it('a held report is dropped when a later one goes out first, or the attempt ends', async () => {
    const { reporter, published, advance, pendingTimers } = setup();
    await reporter.report(50); // held
    await reporter.report(100); // goes out at once, and replaces the held one
    advance(200);
    expect(published).toEqual([100]);
    const other = setup();
    await other.reporter.report(50); // held
    other.reporter.close();
    expect(other.pendingTimers()).toBe(0);
    other.advance(200);
    expect(other.published).toEqual([]);
    expect(pendingTimers()).toBe(0);
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
