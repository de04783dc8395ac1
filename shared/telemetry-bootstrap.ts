// Loaded first by every entry point (before express, grpc-js or http are required) so that
// auto-instrumentation can patch them. esbuild keeps express and @grpc/grpc-js external for the
// same reason: a bundled copy cannot be patched by require hooks.
//
// Propagation works with no exporter configured: the SDK always installs the W3C propagator and
// a real tracer provider, so trace ids flow through events even when nothing is exported.
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) turns exporting on.
import { NodeSDK } from '@opentelemetry/sdk-node';
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

// Logs go to stdout (pino) and on to Loki through the Collector; metrics are not exported by
// the SDK. Without these defaults the SDK would try an OTLP endpoint on localhost for both.
process.env.OTEL_LOGS_EXPORTER ??= 'none';
process.env.OTEL_METRICS_EXPORTER ??= 'none';

const sdk = new NodeSDK({
  serviceName: process.env.OTEL_SERVICE_NAME ?? process.env.TM_COMPONENT ?? 'taskmanager',
  spanProcessors: createSpanProcessors(process.env),
  instrumentations: [
    new HttpInstrumentation({ ignoreIncomingRequestHook: (req) => (req.url ?? '').startsWith('/health') }),
    new ExpressInstrumentation(),
    new GrpcInstrumentation(),
  ],
});
sdk.start();

// The app bundle cannot import this bundle, so the flush travels through a global symbol
// (see flushTelemetry in tracing.ts).
(globalThis as Record<symbol, unknown>)[Symbol.for('taskmanager.telemetry.shutdown')] = () =>
  sdk.shutdown().catch(() => undefined);
