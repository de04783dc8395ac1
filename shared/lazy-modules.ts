// Libraries loaded on first use, not at start. Loading ajv's module costs a process about 25 ms
// and compiling a schema about 5 ms; yaml 15–28 ms from node_modules (less from a bundle). They
// serve the task-type registry file and payload checks: a stage's cold start (Knative's scale
// from zero) should not pay for them before it needs them; nor for nats.js's JetStream module,
// which the scheduler's reconciler needs long after its start. esbuild bundles these require()
// calls like any import (a bundle that never calls one carries none), but runs each module only
// when it is first called.
import type { Ajv } from 'ajv';

let ajvModule: typeof import('ajv') | undefined;
let yamlModule: typeof import('yaml') | undefined;
let jetStreamModule: typeof import('@nats-io/jetstream') | undefined;

/** A new validator instance (allErrors, not strict: schemas may carry annotations ajv does not know). */
export function createAjv(): Ajv {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deferred to first use (cold start)
  ajvModule ??= require('ajv') as typeof import('ajv');
  return new ajvModule.Ajv({ allErrors: true, strict: false });
}

/** yaml's `parse` with duplicate keys refused. */
export function parseYaml(text: string): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deferred to first use (cold start)
  yamlModule ??= require('yaml') as typeof import('yaml');
  return yamlModule.parse(text, { uniqueKeys: true });
}

/** nats.js's JetStream module (stream and consumer management). Bundled in, but run only when
 * first called: in a function only the scheduler's reconciler uses it (shared/consumer-holds.ts),
 * long after the start that would otherwise pay for it. */
export function loadJetStream(): typeof import('@nats-io/jetstream') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deferred to first use (cold start)
  jetStreamModule ??= require('@nats-io/jetstream') as typeof import('@nats-io/jetstream');
  return jetStreamModule;
}
