// The OpenTelemetry metrics SDK, for a process run with TM_METRICS=prometheus: loaded by the
// bootstrap (telemetry-bootstrap.ts) from its own bundle (dist/telemetry-metrics.cjs), so that a
// process without metrics loads none of it (docs/decisions/0018-metrics.md).
//
// Pull, in Prometheus's text format: a MeterProvider whose one reader is the Prometheus
// exporter. The exposition is served where the process already listens (a function's port, a
// source's status port: GET /metrics), through a global hook the app bundle calls (it cannot
// import this bundle); the gateway, which has no HTTP server of its own, serves it on
// TM_METRICS_PORT (gateway/metrics-server.ts).
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { observeProcess } from './process-metrics';

const env = process.env;
const serviceName = env.OTEL_SERVICE_NAME ?? env.TM_COMPONENT ?? 'taskmanager';

// service_name on every series: Prometheus's job/instance say where it scraped, this says which
// component (and replica) recorded it, the same name its traces and logs carry.
const SERVICE_LABEL = /^service\.name$/;
const exporter = new PrometheusExporter({
  preventServerStart: true,
  withResourceConstantLabels: SERVICE_LABEL,
  withoutScopeInfo: true,
});
const provider = new MeterProvider({
  resource: defaultResource()
    .merge(detectResources({ detectors: [envDetector] }))
    .merge(resourceFromAttributes({ 'service.name': serviceName })),
  readers: [exporter],
});
metrics.setGlobalMeterProvider(provider);
observeProcess(provider.getMeter('taskmanager.process'));

const serializer = new PrometheusSerializer(undefined, false, SERVICE_LABEL, false, true);

/** The exposition text of everything recorded so far (shared/metrics.ts appendMetrics calls it). */
async function render(): Promise<string> {
  const { resourceMetrics } = await exporter.collect();
  return serializer.serialize(resourceMetrics);
}

const globals = globalThis as Record<symbol, unknown>;
globals[Symbol.for('taskmanager.metrics.render')] = render;
// Chained after the trace SDK's flush when both are loaded (tracing.ts flushTelemetry).
const previous = globals[Symbol.for('taskmanager.telemetry.shutdown')] as (() => Promise<void>) | undefined;
globals[Symbol.for('taskmanager.telemetry.shutdown')] = async () => {
  await previous?.();
  await provider.shutdown().catch(() => undefined);
};
