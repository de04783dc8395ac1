// Rendering k8s/ and knative/ with `kubectl kustomize` and reading the objects it prints. No
// cluster is needed: kustomize runs offline. The types cover the parts of the objects that the
// deploy tests look at; the schemas (kube-schemas.ts) check everything else.
import { execFileSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';

export type EnvVar = {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string } };
};

export type Probe = {
  httpGet?: { path?: string; port?: number | string };
  grpc?: { port: number; service?: string };
  tcpSocket?: { port: number | string };
  exec?: { command: string[] };
};

export type ContainerPort = { name?: string; containerPort: number; protocol?: string };

export type Container = {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: ContainerPort[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
};

export type Volume = {
  name: string;
  secret?: { secretName: string };
  configMap?: { name: string };
  emptyDir?: Record<string, unknown>;
};

export type PodTemplate = {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    containers: Container[];
    initContainers?: Container[];
    volumes?: Volume[];
    containerConcurrency?: number;
    timeoutSeconds?: number;
  };
};

export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
};

/** Where the repository's kustomizations live, relative to the repository root. */
export const KUSTOMIZATIONS = ['k8s', 'knative'] as const;
export type Flavour = (typeof KUSTOMIZATIONS)[number];

/** Runs `kubectl kustomize <dir>`; a missing kubectl or a broken kustomization is a clear error. */
export function renderKustomization(dir: string): string {
  try {
    return execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stderr?: string };
    if (failure.code === 'ENOENT') {
      throw new Error('kubectl is not on PATH: the deploy tests render k8s/ and knative/ with `kubectl kustomize` (install kubectl >= 1.27)', {
        cause: error,
      });
    }
    throw new Error(`kubectl kustomize ${dir} failed:\n${failure.stderr ?? failure.message}`, { cause: error });
  }
}

/** Every document of a multi-document YAML stream, as objects; YAML errors name the document. */
export function parseManifests(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .filter((doc) => doc.contents !== null)
    .map((doc, index) => {
      if (doc.errors.length > 0) throw new Error(`document ${index + 1}: ${doc.errors[0]?.message}`);
      const value: unknown = doc.toJS();
      if (typeof value !== 'object' || value === null || !('kind' in value)) {
        throw new Error(`document ${index + 1} is not a Kubernetes object`);
      }
      return value as KubeObject;
    });
}

export function renderObjects(dir: string): KubeObject[] {
  return parseManifests(renderKustomization(dir));
}

export function nameOf(object: KubeObject): string {
  return `${object.kind}/${object.metadata.name}`;
}

/** The pod template of a workload kind (ContainerSource and Knative Service included). */
export function podTemplateOf(object: KubeObject): PodTemplate | undefined {
  const spec = object.spec as { template?: PodTemplate; jobTemplate?: { spec?: { template?: PodTemplate } } } | undefined;
  if (!spec) return undefined;
  if (object.kind === 'CronJob') return spec.jobTemplate?.spec?.template;
  if (['Deployment', 'StatefulSet', 'Job', 'DaemonSet', 'ContainerSource'].includes(object.kind)) return spec.template;
  if (object.kind === 'Service' && object.apiVersion.startsWith('serving.knative.dev/')) return spec.template;
  return undefined;
}

export function isKnativeService(object: KubeObject): boolean {
  return object.kind === 'Service' && object.apiVersion.startsWith('serving.knative.dev/');
}

export function isCoreService(object: KubeObject): boolean {
  return object.kind === 'Service' && object.apiVersion === 'v1';
}

/** Every container of every workload, with the object it belongs to. */
export function containersOf(objects: readonly KubeObject[]): { owner: KubeObject; template: PodTemplate; container: Container }[] {
  return objects.flatMap((owner) => {
    const template = podTemplateOf(owner);
    if (!template) return [];
    return [...(template.spec.initContainers ?? []), ...template.spec.containers].map((container) => ({ owner, template, container }));
  });
}

export function find(objects: readonly KubeObject[], kind: string, name: string, apiGroup?: string): KubeObject | undefined {
  return objects.find(
    (object) =>
      object.kind === kind &&
      object.metadata.name === name &&
      (apiGroup === undefined || object.apiVersion.split('/')[0] === apiGroup || (apiGroup === '' && !object.apiVersion.includes('/'))),
  );
}

/** A deep copy to mutate in negative tests. */
export function cloneObjects(objects: readonly KubeObject[]): KubeObject[] {
  return structuredClone(objects) as KubeObject[];
}
