// The OpenTelemetry SDK, for a process that exports traces: loaded by the bootstrap
// (telemetry-bootstrap.ts) only when an OTLP endpoint is configured, before the app is required,
// so that auto-instrumentation can patch node:http and @grpc/grpc-js (kept external by esbuild
// for that reason: a bundled copy cannot be patched by require hooks).
//
// Traces only, on the trace SDK rather than @opentelemetry/sdk-node: the full SDK bundles every
// exporter for traces, metrics and logs (6.5 MB), which every process paid for at each start
// (about 4 CPU-seconds, 17 processes); logs are JSON lines (logger.ts) and metrics have their own
// bootstrap (telemetry-metrics.ts).
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { GrpcInstrumentation } from '@opentelemetry/instrumentation-grpc';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { BatchSpanProcessor, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

const exporter = new OTLPTraceExporter();
const serviceName = process.env.OTEL_SERVICE_NAME ?? process.env.TM_COMPONENT ?? 'taskmanager';
const provider = new NodeTracerProvider({
  // OTEL_RESOURCE_ATTRIBUTES still applies (envDetector); the service name wins over it.
  resource: defaultResource()
    .merge(detectResources({ detectors: [envDetector] }))
    .merge(resourceFromAttributes({ 'service.name': serviceName })),
  // Tests ask for immediate export so that spans of a killed process are not lost.
  spanProcessors: [process.env.TM_OTEL_SIMPLE_PROCESSOR === 'true' ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter)],
});
// W3C trace context and baggage propagators, AsyncLocalStorage context manager; the default
// sampler is parent-based, sampling every root.
provider.register();
registerInstrumentations({
  tracerProvider: provider,
  instrumentations: [
    new HttpInstrumentation({ ignoreIncomingRequestHook: (req) => (req.url ?? '').startsWith('/health') }),
    new GrpcInstrumentation(),
  ],
});

// The app bundle cannot import this bundle, so the flush travels through a global symbol
// (see flushTelemetry in tracing.ts).
(globalThis as Record<symbol, unknown>)[Symbol.for('taskmanager.telemetry.shutdown')] = () =>
  provider.shutdown().catch(() => undefined);
