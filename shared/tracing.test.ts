import { afterEach, describe, expect, it } from 'vitest';
import { flushTelemetry } from './tracing';

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

  it('gives up on a flush that never ends (an unreachable Collector) after its timeout', async () => {
    let called = false;
    globals[FLUSH_HOOK] = () => {
      called = true;
      return new Promise<void>(() => undefined);
    };
    const started = performance.now();
    await flushTelemetry(50);
    expect(called).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
  });
});
