// `kubectl kustomize k8s` and `kubectl kustomize knative` render, and every object they print is
// valid against its schema in test/deploy/schemas/ (unknown fields rejected, CRDs included).
import { beforeAll, describe, expect, it } from 'vitest';
import { cloneObjects, find, podTemplateOf, renderObjects, type KubeObject } from './kube-manifests';
import { createManifestValidator, toStrictSchema, type ManifestValidator } from './kube-schemas';

let validator: ManifestValidator;
const rendered: Record<string, KubeObject[]> = {};

beforeAll(() => {
  validator = createManifestValidator();
  rendered.k8s = renderObjects('k8s');
  rendered.knative = renderObjects('knative');
});

describe.each(['k8s', 'knative'])('kubectl kustomize %s', (dir) => {
  it('renders objects, all in the taskmanager namespace', () => {
    const objects = rendered[dir]!;
    expect(objects.length).toBeGreaterThan(20);
    const outside = objects.filter((o) => o.kind !== 'Namespace' && o.metadata.namespace !== 'taskmanager');
    expect(outside.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([]);
  });

  it('every object is valid against its schema, unknown fields rejected', () => {
    const problems = rendered[dir]!.flatMap((object) => validator.validate(object));
    expect(problems).toEqual([]);
  });
});

describe('the schemas catch mistakes', () => {
  const mutated = (dir: string, kind: string, name: string, change: (object: KubeObject) => void, apiGroup?: string) => {
    const objects = cloneObjects(rendered[dir]!);
    const object = find(objects, kind, name, apiGroup);
    if (!object) throw new Error(`${kind}/${name} not rendered in ${dir}`);
    change(object);
    return validator.validate(object);
  };

  it('a misspelled container field of a Deployment is reported with its path', () => {
    const problems = mutated('k8s', 'Deployment', 'worker', (object) => {
      const container = podTemplateOf(object)!.spec.containers[0]! as unknown as Record<string, unknown>;
      container.imagePulPolicy = container.imagePullPolicy;
    });
    expect(problems).toEqual([expect.stringMatching(/Deployment\/worker \/spec\/template\/spec\/containers\/0: unknown field "imagePulPolicy"/)]);
  });

  it('a misspelled field of a KEDA ScaledObject is reported (CRD made strict)', () => {
    const problems = mutated('k8s', 'ScaledObject', 'worker', (object) => {
      object.spec!.minReplicas = 0;
    });
    expect(problems).toEqual([expect.stringMatching(/ScaledObject\/worker \/spec: unknown field "minReplicas"/)]);
  });

  it('a misspelled field in a Knative Service revision template is reported', () => {
    const problems = mutated(
      'knative',
      'Service',
      'worker',
      (object) => {
        podTemplateOf(object)!.spec.timeoutSeconds = undefined;
        (podTemplateOf(object)!.spec as Record<string, unknown>).timeoutSecond = 3660;
      },
      'serving.knative.dev',
    );
    expect(problems).toEqual([expect.stringMatching(/\/spec\/template\/spec: unknown field "timeoutSecond"/)]);
  });

  it('a misspelled field in a ContainerSource pod template is reported (checked as a PodTemplateSpec)', () => {
    const problems = mutated('knative', 'ContainerSource', 'worker-source', (object) => {
      (podTemplateOf(object)!.spec.containers[0] as unknown as Record<string, unknown>).envv = [];
    });
    expect(problems).toEqual([expect.stringMatching(/ContainerSource\/worker-source \/spec\/template\/spec\/containers\/0: unknown field "envv"/)]);
  });

  it('a wrong type is reported', () => {
    const problems = mutated('k8s', 'StatefulSet', 'nats', (object) => {
      object.spec!.replicas = 'one';
    });
    expect(problems).toEqual([expect.stringMatching(/StatefulSet\/nats \/spec\/replicas: must be integer/)]);
  });

  it('a kind without a schema is refused rather than passed', () => {
    const ingress: KubeObject = { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'web' }, spec: {} };
    expect(validator.validate(ingress)).toEqual([expect.stringMatching(/Ingress\/web: no schema for networking.k8s.io\/v1 Ingress/)]);
  });

  it('strictness stops where a CRD allows unknown fields or declares a map', () => {
    const strict = toStrictSchema({
      type: 'object',
      properties: {
        open: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, properties: { a: { type: 'string' } } },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
      },
    }) as { additionalProperties: boolean; properties: Record<string, Record<string, unknown>> };
    expect(strict.additionalProperties).toBe(false);
    expect(strict.properties.open!.additionalProperties).toBeUndefined();
    expect(strict.properties.labels!.additionalProperties).toEqual({ type: 'string' });
  });
});
