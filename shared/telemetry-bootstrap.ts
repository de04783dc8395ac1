// Loaded first by every process (`node --require dist/telemetry.cjs dist/<bundle>.cjs`), before
// the app requires node:http or @grpc/grpc-js. It decides what telemetry costs:
// - an OTLP endpoint configured (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT)
//   and OTEL_SDK_DISABLED not true: the SDK, its exporter and the http/grpc instrumentations load
//   from their own bundle (dist/telemetry-sdk.cjs), as before;
// - otherwise nothing of the SDK loads: trace context still propagates through events and log
//   lines (telemetry-light.ts), but no span is recorded and nothing is instrumented.
// This file stays tiny: it is on every process's start path (docs/decisions/0004).
import { createRequire } from 'node:module';
import { isExportConfigured, registerPropagationOnly } from './telemetry-light';

if (isExportConfigured(process.env)) {
  // Beside this file in dist/; resolved at run time, not bundled in.
  createRequire(__filename)('./telemetry-sdk.cjs');
} else {
  registerPropagationOnly();
}
