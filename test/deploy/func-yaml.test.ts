// func.yaml (the Knative `func` CLI's description of the worker) is valid against the func.yaml
// schema in test/deploy/schemas/func/ and agrees with the topology, the Knative Service that
// knative/ renders for the same function, and the Procfile that gives the image its command.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { FUNCTIONS } from '../../shared/topology';
import { currentTopology, NAMESPACE } from './kube-drift';
import { find, podTemplateOf, renderObjects, type EnvVar } from './kube-manifests';
import { readImagePlan, toImageEnv } from './image-layout';
import { formatErrors, SCHEMAS_DIR, withoutSchemaKeyword } from './kube-schemas';

type FuncYaml = {
  name: string;
  namespace?: string;
  created: unknown;
  build?: { buildEnvs?: { name: string; value?: string }[] };
  run?: { envs?: { name: string; value?: string }[] };
  deploy?: {
    namespace?: string;
    options?: {
      scale?: { min?: number; max?: number; metric?: string; target?: number };
      resources?: { limits?: { concurrency?: number } };
    };
    healthEndpoints?: { liveness?: string; readiness?: string };
  };
};

let validate: ValidateFunction;
let func: FuncYaml;

beforeAll(() => {
  const schema = JSON.parse(readFileSync(join(SCHEMAS_DIR, 'func/func_yaml-schema.json'), 'utf8'));
  // draft-04: ajv 8 does not know the draft URI; the keywords this schema uses are the same.
  validate = new Ajv({ strict: false, allErrors: true }).compile(withoutSchemaKeyword(schema) as object);
  // The yaml package's default (YAML 1.2 core) schema has no timestamps: `created` stays a string.
  func = parse(readFileSync('func.yaml', 'utf8')) as FuncYaml;
});

/** func's template for a Secret's key, as in `{{ secret:nats-credentials:worker }}`. */
function toFuncEnvValue(variable: EnvVar): string | undefined {
  const ref = variable.valueFrom?.secretKeyRef;
  return ref ? `{{ secret:${ref.name}:${ref.key} }}` : variable.value;
}

describe('func.yaml', () => {
  it('is valid against the func.yaml schema, with `created` a string', () => {
    expect(typeof func.created).toBe('string');
    expect(formatErrors(validate(func) ? [] : validate.errors)).toEqual([]);
  });

  it('a misspelled field or a wrong enum value is rejected by the schema', () => {
    const typo = structuredClone(func) as Record<string, unknown> & FuncYaml;
    (typo.deploy!.options!.scale as Record<string, unknown>).mim = 0;
    typo.invoke = 'grpc';
    expect(validate(typo)).toBe(false);
    expect(formatErrors(validate.errors)).toEqual([
      '/invoke: must be equal to one of the allowed values (http, cloudevent)',
      '/deploy/options/scale: unknown field "mim"',
    ]);
  });

  it('describes a function of the topology with its scaling and health endpoints', () => {
    const fn = FUNCTIONS.find((candidate) => candidate.name === func.name);
    expect(fn, `func.yaml names ${func.name}, which is not a function of shared/topology.ts`).toBeDefined();
    expect(func.namespace).toBe(NAMESPACE);
    expect(func.deploy?.namespace).toBe(NAMESPACE);
    expect(func.deploy?.options?.scale).toEqual({ min: fn!.minScale, max: fn!.maxScale, metric: 'concurrency', target: fn!.targetConcurrency });
    expect(func.deploy?.options?.resources?.limits?.concurrency).toBe(fn!.maxInFlight);
    expect(func.deploy?.healthEndpoints).toEqual({ liveness: '/health/liveness', readiness: '/health/readiness' });
  });

  it('runs with the environment of the same function in knative/ (PORT is set by Knative), plus the image\'s HOST, NODE_OPTIONS and MALLOC_ARENA_MAX', () => {
    const ksvc = find(renderObjects('knative'), 'Service', func.name, 'serving.knative.dev');
    const container = podTemplateOf(ksvc!)!.spec.containers[0]!;
    const expected = (container.env ?? []).map((variable) => ({ name: variable.name, value: toFuncEnvValue(variable) }));
    // The buildpack image is not the Dockerfile's: what the Dockerfile's ENV gives every container
    // (listening on all interfaces), func.yaml must set itself. Paketo sets NODE_ENV=production.
    const image = toImageEnv(readImagePlan().finalStage);
    expect(image.HOST).toBe('0.0.0.0');
    expect(func.run?.envs).toEqual([
      ...expected,
      { name: 'HOST', value: image.HOST },
      { name: 'NODE_OPTIONS', value: image.NODE_OPTIONS },
      { name: 'MALLOC_ARENA_MAX', value: image.MALLOC_ARENA_MAX },
    ]);
  });

  it('is built by `npm run build` and started by the Procfile with the local stack\'s command', () => {
    const scripts = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(func.build?.buildEnvs).toContainEqual({ name: 'BP_NODE_RUN_SCRIPTS', value: 'build' });
    expect(scripts.build).toBeDefined();

    // Buildpacks put the application in /workspace and run the Procfile from there.
    const procfile = readFileSync('Procfile', 'utf8');
    const web = /^web:\s*(.+)$/m.exec(procfile)?.[1]?.trim().split(/\s+/);
    const process = currentTopology().processes.find((candidate) => candidate.name === func.name)!;
    const local = ['node', ...process.args.map((arg) => arg.replace(/^\/app\/dist\//, './dist/'))];
    expect(web).toEqual(local);
  });
});
