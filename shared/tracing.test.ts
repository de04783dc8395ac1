import { afterEach, describe, expect, it, vi } from 'vitest';
import { flushTelemetry, TELEMETRY_FLUSH_TIMEOUT_MS } from './tracing';

const FLUSH_HOOK = Symbol.for('taskmanager.telemetry.shutdown');
const globals = globalThis as Record<symbol, unknown>;

describe('flushTelemetry', () => {
  afterEach(() => {
    delete globals[FLUSH_HOOK];
  });

  it('does nothing when no telemetry SDK was loaded', async () => {
    await expect(flushTelemetry(10)).resolves.toBeUndefined();
  });

  it('waits for the SDK\'s flush when it finishes in time', async () => {
    let flushed = false;
    globals[FLUSH_HOOK] = async () => {
      await new Promise((resolve) => setImmediate(resolve));
      flushed = true;
    };
    await flushTelemetry(60_000);
    expect(flushed).toBe(true);
  });

  it('gives up on a flush that never ends (an unreachable Collector) at its timeout, not before', async () => {
    vi.useFakeTimers();
    try {
      let called = false;
      globals[FLUSH_HOOK] = () => {
        called = true;
        return new Promise<void>(() => undefined);
      };
      let done = false;
      void flushTelemetry(TELEMETRY_FLUSH_TIMEOUT_MS).then(() => (done = true));
      await vi.advanceTimersByTimeAsync(TELEMETRY_FLUSH_TIMEOUT_MS - 1);
      expect(called).toBe(true);
      expect(done).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(done).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });
});
