// Loaded first by every entry point (before express, grpc-js or http are required) so that
// auto-instrumentation can patch them. esbuild keeps express and @grpc/grpc-js external for the
// same reason: a bundled copy cannot be patched by require hooks.
//
// Propagation works with no exporter configured: the SDK always installs the W3C propagator and
// a real tracer provider, so trace ids flow through events even when nothing is exported.
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) turns exporting on.
//
// Traces only, on the trace SDK rather than @opentelemetry/sdk-node: the full SDK bundles every
// exporter for traces, metrics and logs (6.5 MB), which every process paid for at each start
// (about 4 CPU-seconds, 17 processes); logs go through pino and metrics are not exported.
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { ExpressInstrumentation } from '@opentelemetry/instrumentation-express';
import { GrpcInstrumentation } from '@opentelemetry/instrumentation-grpc';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { BatchSpanProcessor, SimpleSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';

// The SDK registers a tracer provider only when it has a span processor; without one no span
// has a context and nothing reaches `traceparent`. This one keeps propagation alive when no
// exporter is configured.
const propagateOnly: SpanProcessor = {
  onStart: () => undefined,
  onEnd: () => undefined,
  forceFlush: async () => undefined,
  shutdown: async () => undefined,
};

function createSpanProcessors(env: NodeJS.ProcessEnv): SpanProcessor[] {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint || env.OTEL_SDK_DISABLED === 'true') return [propagateOnly];
  const exporter = new OTLPTraceExporter();
  // Tests ask for immediate export so that spans of a killed process are not lost.
  return [env.TM_OTEL_SIMPLE_PROCESSOR === 'true' ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter)];
}

const serviceName = process.env.OTEL_SERVICE_NAME ?? process.env.TM_COMPONENT ?? 'taskmanager';
const provider = new NodeTracerProvider({
  // OTEL_RESOURCE_ATTRIBUTES still applies (envDetector); the service name wins over it.
  resource: defaultResource()
    .merge(detectResources({ detectors: [envDetector] }))
    .merge(resourceFromAttributes({ 'service.name': serviceName })),
  spanProcessors: createSpanProcessors(process.env),
});
// W3C trace context and baggage propagators, AsyncLocalStorage context manager.
provider.register();
registerInstrumentations({
  tracerProvider: provider,
  instrumentations: [
    new HttpInstrumentation({ ignoreIncomingRequestHook: (req) => (req.url ?? '').startsWith('/health') }),
    new ExpressInstrumentation(),
    new GrpcInstrumentation(),
  ],
});

// The app bundle cannot import this bundle, so the flush travels through a global symbol
// (see flushTelemetry in tracing.ts).
(globalThis as Record<symbol, unknown>)[Symbol.for('taskmanager.telemetry.shutdown')] = () =>
  provider.shutdown().catch(() => undefined);
