// Loaded first by every process (`node --require dist/telemetry.cjs dist/<bundle>.cjs`), before
// the app requires node:http or @grpc/grpc-js. It decides what telemetry costs:
// - an OTLP endpoint configured (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT)
//   and OTEL_SDK_DISABLED not true: the SDK, its exporter and the http/grpc instrumentations load
//   from their own bundle (dist/telemetry-sdk.cjs), as before;
// - otherwise nothing of the SDK loads: trace context still propagates through events and log
//   lines (telemetry-light.ts), but no span is recorded and nothing is instrumented.
// - TM_METRICS=prometheus (and OTEL_SDK_DISABLED not true): the metrics SDK loads from its own
//   bundle (dist/telemetry-metrics.cjs); otherwise none of it does, and the app records nothing
//   (docs/decisions/0018-metrics.md).
// It also turns on V8's compile cache first, so the bundle loaded after it is compiled through the
// cache (compile-cache.ts).
// This file stays tiny: it is on every process's start path (docs/decisions/0004).
import { createRequire } from 'node:module';
import { enableCompileCache } from './compile-cache';
import { isExportConfigured, isMetricsConfigured, registerPropagationOnly } from './telemetry-light';

enableCompileCache();
// Beside this file in dist/; resolved at run time, not bundled in.
const load = createRequire(__filename);
if (isExportConfigured(process.env)) {
  load('./telemetry-sdk.cjs');
} else {
  registerPropagationOnly();
}
if (isMetricsConfigured(process.env)) load('./telemetry-metrics.cjs');
