// The mark by which shared/tracing.ts tells a process that records no spans (no exporter): set on
// the tracer provider that telemetry-light.ts registers. A module of its own so that the start-up
// bootstrap (dist/telemetry.cjs), which registers the provider, loads nothing of tracing.ts; a
// symbol from the global registry because the bootstrap and the app bundle that reads the mark
// each carry their own copy of these modules.
export const RECORDS_NOTHING = Symbol.for('taskmanager.telemetry.records-nothing');
