// Metrics over @opentelemetry/api only. The SDK loads in telemetry-bootstrap.ts when
// TM_METRICS=prometheus (shared/telemetry-metrics.ts, its own bundle); otherwise nothing records
// at all: every recorder below is `undefined`, and each call site costs one `?.` on it
// (docs/decisions/0018-metrics.md).
import { metrics, type Meter } from '@opentelemetry/api';

const RENDER = Symbol.for('taskmanager.metrics.render');

type Render = () => Promise<string>;

function renderHook(): Render | undefined {
  const hook = (globalThis as Record<symbol, unknown>)[RENDER];
  return typeof hook === 'function' ? (hook as Render) : undefined;
}

/** Whether the metrics SDK was loaded by the bootstrap (decided once, before the app starts). */
export function isMetricsOn(): boolean {
  return renderHook() !== undefined;
}

/** The meter every recorder uses, or undefined when metrics are off. */
export function getMeter(): Meter | undefined {
  return isMetricsOn() ? metrics.getMeter('taskmanager') : undefined;
}

/** `text` (a component's own hand-written series), then the SDK's exposition when metrics are on. */
export async function appendMetrics(text: string): Promise<string> {
  const render = renderHook();
  if (!render) return text;
  const rendered = await render();
  return text === '' ? rendered : `${text.replace(/\n*$/, '\n')}${rendered}`;
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Buckets for durations in seconds (OpenTelemetry's advice for messaging durations, plus the
 * longer tail a task's run and end-to-end times have). */
export const DURATION_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60, 300];
