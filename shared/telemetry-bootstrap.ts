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

function createSpanProcessors(env: NodeJS.ProcessEnv): SpanProcessor[] {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint || env.OTEL_SDK_DISABLED === 'true') return [];
  const exporter = new OTLPTraceExporter();
  // Tests ask for immediate export so that spans of a killed process are not lost.
  return [env.TM_OTEL_SIMPLE_PROCESSOR === 'true' ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter)];
}

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
