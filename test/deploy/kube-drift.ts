// The drift check between the one topology (shared/topology.ts, and the processes of the local
// stack built from it in scripts/local-stack.ts) and what `kubectl kustomize k8s` / `knative`
// render. Pure: it takes the expected topology and the rendered objects and lists every
// difference, so tests can feed it mutated copies of either side.
//
// Mapping from the local stack to the cluster (docs/deploy.md):
// - every process is a container named after it, running `node <the same args>` of the one
//   image; hosts become Service names (nats, redis, enricher);
// - k8s: a function's source is a sidecar in the function's pod, so its K_SINK stays
//   http://127.0.0.1:<function port>/; KEDA scales each consuming stage on its consumers' lag;
// - knative: a function is a Knative Service (Knative sets PORT from containerPort, so PORT is
//   not in its env), a source is a ContainerSource whose sink is that Service (Knative injects
//   K_SINK); one source feeds every pod, so it keeps max-scale x target deliveries in flight;
// - deployment-only variables: NATS credentials (user = process name, password from the
//   nats-credentials Secret), the Collector's OTLP endpoint, the gateway's API keys file;
// - the dashboard (a client of the gateway, no NATS or Redis) is the same Deployment and Service
//   in both, reaching the gateway Service by name.
import { sourceName, toLocalStack, type ProcessSpec } from '../../scripts/local-stack';
import { TASK_TYPES } from '../../shared/task-types';
import { FUNCTIONS, type FunctionSpec } from '../../shared/topology';
import {
  containersOf,
  find,
  isCoreService,
  isKnativeService,
  nameOf,
  podTemplateOf,
  type Container,
  type EnvVar,
  type Flavour,
  type KubeObject,
  type PodTemplate,
  type Probe,
} from './kube-manifests';

export const NAMESPACE = 'taskmanager';
export const APP_IMAGE = 'taskmanager:local';
export const IN_CLUSTER = { distDir: '/app/dist', natsUrl: 'nats://nats:4222', redisUrl: 'redis://redis:6379' };
export const OTLP_ENDPOINT = 'http://otel-collector:4318';
export const NATS_SECRET = 'nats-credentials';
export const API_KEYS_FILE = '/etc/taskmanager/api-keys/api-keys';
/** Where the task type registry's ConfigMap is mounted, and who reads it (docs/task-types.md). */
export const TASK_TYPES_FILE = '/etc/taskmanager/task-types/task-types.yaml';
export const TASK_TYPE_READERS: readonly string[] = ['gateway', 'ingest', 'worker'];
/** Example task handlers that run beside the application (knative/examples), not processes of it. */
export const EXAMPLE_CONTAINERS: readonly string[] = ['word-stats'];
export const KEDA_MONITORING_ENDPOINT = `nats.${NAMESPACE}.svc:8222`;
/** The account of users defined in nats.conf's `authorization` block (no `accounts`). */
export const KEDA_ACCOUNT = '$G';
/** Third-party workloads beside the processes of the local stack. */
export const INFRA_CONTAINERS = ['nats', 'redis', 'envoy', 'otel-collector', 'tempo', 'loki', 'grafana', 'prometheus'];

const KEDA_TRIGGER_KEYS = ['natsServerMonitoringEndpoint', 'account', 'stream', 'consumer', 'lagThreshold', 'activationLagThreshold', 'useHttps'];
const KNATIVE_ANNOTATIONS = [
  'autoscaling.knative.dev/class',
  'autoscaling.knative.dev/metric',
  'autoscaling.knative.dev/target',
  'autoscaling.knative.dev/min-scale',
  'autoscaling.knative.dev/max-scale',
  'autoscaling.knative.dev/scale-to-zero-pod-retention-period',
];

export type Topology = { functions: readonly FunctionSpec[]; processes: readonly ProcessSpec[] };

export function currentTopology(): Topology {
  return { functions: FUNCTIONS, processes: toLocalStack(IN_CLUSTER) };
}

type Role =
  | { kind: 'function'; fn: FunctionSpec }
  | { kind: 'source'; fn: FunctionSpec }
  | { kind: 'setup' }
  | { kind: 'gateway' }
  | { kind: 'dashboard' }
  | { kind: 'other' };

function roleOf(process: ProcessSpec, topology: Topology): Role {
  const fn = topology.functions.find((candidate) => candidate.name === process.name);
  if (fn) return { kind: 'function', fn };
  const fed = topology.functions.find((candidate) => candidate.consumers.length > 0 && sourceName(candidate) === process.name);
  if (fed) return { kind: 'source', fn: fed };
  if (process.name === 'setup') return { kind: 'setup' };
  if (process.name === 'gateway') return { kind: 'gateway' };
  if (process.name === 'dashboard') return { kind: 'dashboard' };
  return { kind: 'other' };
}

/** The workload that must hold the process's container. */
function expectedOwner(role: Role, process: ProcessSpec, flavour: Flavour): { kind: string; name: string; group: string } {
  if (role.kind === 'setup') return { kind: 'Job', name: 'setup', group: 'batch' };
  if (role.kind === 'function') {
    return flavour === 'knative'
      ? { kind: 'Service', name: role.fn.name, group: 'serving.knative.dev' }
      : { kind: 'Deployment', name: role.fn.name, group: 'apps' };
  }
  if (role.kind === 'source') {
    return flavour === 'knative'
      ? { kind: 'ContainerSource', name: process.name, group: 'sources.knative.dev' }
      : { kind: 'Deployment', name: role.fn.name, group: 'apps' };
  }
  return { kind: 'Deployment', name: process.name, group: 'apps' };
}

type ExpectedEnv = { value: string } | { secret: { name: string; key: string } };

/** 127.0.0.1:<function port> of the local stack → that function's in-cluster address. */
function toClusterUrl(value: string, flavour: Flavour, topology: Topology): string {
  const match = /^http:\/\/127\.0\.0\.1:(\d+)(\/?.*)$/.exec(value);
  if (!match) return value;
  const fn = topology.functions.find((candidate) => candidate.port === Number(match[1]));
  if (!fn) return value;
  return flavour === 'knative' ? `http://${fn.name}.${NAMESPACE}.svc.cluster.local${match[2]}` : `http://${fn.name}:${fn.port}${match[2]}`;
}

function connectsToNats(role: Role): boolean {
  return !(role.kind === 'function' && role.fn.consumers.length === 0) && role.kind !== 'dashboard';
}

/** The gateway's gRPC address of the local stack (127.0.0.1:<port>) → the gateway Service's. */
function toClusterAddress(value: string): string {
  return value.replace(/^127\.0\.0\.1:/, 'gateway:');
}

export function expectedEnv(process: ProcessSpec, role: Role, flavour: Flavour, topology: Topology): Map<string, ExpectedEnv> {
  const env = new Map<string, ExpectedEnv>();
  for (const [name, value] of Object.entries(process.env)) {
    if (flavour === 'knative' && role.kind === 'function' && name === 'PORT') continue;
    if (role.kind === 'source' && name === 'K_SINK') {
      // k8s: the sidecar delivers over the pod's loopback, exactly as locally.
      if (flavour === 'k8s') env.set(name, { value });
      continue;
    }
    env.set(name, { value: name === 'TM_GATEWAY_ADDRESS' ? toClusterAddress(value) : toClusterUrl(value, flavour, topology) });
  }
  if (connectsToNats(role)) {
    env.set('NATS_USER', { value: process.name });
    env.set('NATS_PASSWORD', { secret: { name: NATS_SECRET, key: process.name } });
  }
  env.set('OTEL_EXPORTER_OTLP_ENDPOINT', { value: OTLP_ENDPOINT });
  // Prometheus scrapes every pod (k8s/base/observability/prometheus.yaml).
  env.set('TM_METRICS', { value: 'prometheus' });
  if (role.kind === 'gateway') env.set('TM_API_KEYS_FILE', { value: API_KEYS_FILE });
  if (TASK_TYPE_READERS.includes(process.name)) env.set('TM_TASK_TYPES_FILE', { value: TASK_TYPES_FILE });
  if (flavour === 'knative' && role.kind === 'source') {
    env.set('TM_SOURCE_MAX_IN_FLIGHT', { value: String(role.fn.maxScale * role.fn.targetConcurrency) });
  }
  return env;
}

function describeEnv(entry: ExpectedEnv | EnvVar): string {
  if ('secret' in entry) return `secret ${entry.secret.name}/${entry.secret.key}`;
  if ('valueFrom' in entry && entry.valueFrom?.secretKeyRef) return `secret ${entry.valueFrom.secretKeyRef.name}/${entry.valueFrom.secretKeyRef.key}`;
  if ('valueFrom' in entry && entry.valueFrom) return JSON.stringify(entry.valueFrom);
  return JSON.stringify(entry.value ?? '');
}

function compareEnv(where: string, actual: readonly EnvVar[], expected: Map<string, ExpectedEnv>): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const variable of actual) {
    if (seen.has(variable.name)) problems.push(`${where}: env ${variable.name} is set twice`);
    seen.add(variable.name);
    const want = expected.get(variable.name);
    if (!want) {
      problems.push(`${where}: env ${variable.name} is not in the local stack's environment`);
      continue;
    }
    if (describeEnv(variable) !== describeEnv(want)) {
      problems.push(`${where}: env ${variable.name} is ${describeEnv(variable)}, expected ${describeEnv(want)}`);
    }
  }
  for (const name of expected.keys()) {
    if (!seen.has(name)) problems.push(`${where}: env ${name} is missing (expected ${describeEnv(expected.get(name)!)})`);
  }
  return problems;
}

/** A probe's port as a number (named ports resolved against the container). */
function probePort(probe: Probe | undefined, container: Container): number | undefined {
  const port = probe?.httpGet?.port ?? probe?.grpc?.port ?? probe?.tcpSocket?.port;
  if (typeof port === 'number') return port;
  return container.ports?.find((candidate) => candidate.name === port)?.containerPort;
}

function checkHttpProbe(where: string, kind: 'readinessProbe' | 'livenessProbe', container: Container, path: string, port: number, flavour: Flavour, role: Role): string[] {
  const probe = container[kind];
  if (!probe?.httpGet) return [`${where}: ${kind} must be an HTTP GET of ${path}`];
  const problems: string[] = [];
  if (probe.httpGet.path !== path) problems.push(`${where}: ${kind} path is ${probe.httpGet.path}, expected ${path}`);
  // Knative probes the user container on its containerPort when the port is left out.
  const knativeDefault = flavour === 'knative' && role.kind === 'function' && probe.httpGet.port === undefined;
  if (!knativeDefault && probePort(probe, container) !== port) {
    problems.push(`${where}: ${kind} port is ${String(probe.httpGet.port)}, expected ${port}`);
  }
  return problems;
}

function checkProbes(where: string, container: Container, process: ProcessSpec, role: Role, flavour: Flavour): string[] {
  const port = Number(process.env.PORT);
  if (role.kind === 'function') {
    return [
      ...checkHttpProbe(where, 'readinessProbe', container, '/health/readiness', port, flavour, role),
      ...checkHttpProbe(where, 'livenessProbe', container, '/health/liveness', port, flavour, role),
    ];
  }
  if (role.kind === 'source') {
    return [
      ...checkHttpProbe(where, 'readinessProbe', container, '/healthz', port, flavour, role),
      ...checkHttpProbe(where, 'livenessProbe', container, '/healthz', port, flavour, role),
    ];
  }
  if (role.kind === 'dashboard') {
    return [
      ...checkHttpProbe(where, 'readinessProbe', container, '/health/readiness', port, flavour, role),
      ...checkHttpProbe(where, 'livenessProbe', container, '/health/liveness', port, flavour, role),
    ];
  }
  if (role.kind === 'gateway') {
    const probe = container.readinessProbe;
    if (!probe?.grpc || probe.grpc.port !== port) return [`${where}: readinessProbe must be the gRPC health check on ${port}`];
  }
  return [];
}

function checkContainer(owner: KubeObject, container: Container, process: ProcessSpec, role: Role, flavour: Flavour, topology: Topology): string[] {
  const where = `${flavour} ${nameOf(owner)} container ${container.name}`;
  const problems: string[] = [];
  if (container.image !== APP_IMAGE) problems.push(`${where}: image is ${container.image}, expected ${APP_IMAGE}`);
  const command = [...(container.command ?? []), ...(container.args ?? [])];
  const wanted = ['node', ...process.args];
  if (JSON.stringify(command) !== JSON.stringify(wanted)) {
    problems.push(`${where}: command is ${JSON.stringify(command)}, expected ${JSON.stringify(wanted)}`);
  }
  problems.push(...compareEnv(where, container.env ?? [], expectedEnv(process, role, flavour, topology)));
  if (process.env.PORT !== undefined) {
    const port = Number(process.env.PORT);
    const ports = (container.ports ?? []).map((candidate) => candidate.containerPort);
    if (!ports.includes(port)) problems.push(`${where}: containerPorts ${JSON.stringify(ports)} do not include PORT ${port}`);
    if (flavour === 'knative' && role.kind === 'function' && ports.length !== 1) {
      problems.push(`${where}: a Knative Service's container exposes exactly one port (its PORT ${port})`);
    }
  }
  problems.push(...checkProbes(where, container, process, role, flavour));
  return problems;
}

function checkServicePort(objects: readonly KubeObject[], serviceName: string, port: number, template: PodTemplate, what: string): string[] {
  const service = objects.find((object) => isCoreService(object) && object.metadata.name === serviceName);
  if (!service) return [`k8s: no Service ${serviceName} for ${what}`];
  const ports = (service.spec as { ports?: { port: number; targetPort?: number | string }[] }).ports ?? [];
  const entry = ports.find((candidate) => candidate.port === port);
  if (!entry) return [`k8s: Service ${serviceName} has no port ${port} for ${what}`];
  const target = entry.targetPort ?? entry.port;
  const containerPorts = template.spec.containers.flatMap((container) => container.ports ?? []);
  const resolved = typeof target === 'number' ? target : containerPorts.find((candidate) => candidate.name === target)?.containerPort;
  return resolved === port ? [] : [`k8s: Service ${serviceName} port ${port} targets ${String(target)}, not the ${what} port ${port}`];
}

function checkKedaScaling(objects: readonly KubeObject[], fn: FunctionSpec): string[] {
  const where = `k8s ScaledObject/${fn.name}`;
  const scaled = find(objects, 'ScaledObject', fn.name, 'keda.sh');
  if (!scaled) return [`k8s: no KEDA ScaledObject scales ${fn.name}`];
  type Trigger = { type: string; name?: string; metadata?: Record<string, string> };
  const spec = scaled.spec as {
    scaleTargetRef?: { name?: string; kind?: string };
    minReplicaCount?: number;
    maxReplicaCount?: number;
    triggers?: Trigger[];
  };
  const problems: string[] = [];
  if (spec.scaleTargetRef?.name !== fn.name || (spec.scaleTargetRef.kind ?? 'Deployment') !== 'Deployment') {
    problems.push(`${where}: scaleTargetRef is ${JSON.stringify(spec.scaleTargetRef)}, expected Deployment ${fn.name}`);
  }
  if (spec.minReplicaCount !== fn.minScale) problems.push(`${where}: minReplicaCount is ${spec.minReplicaCount}, expected ${fn.minScale}`);
  if (spec.maxReplicaCount !== fn.maxScale) problems.push(`${where}: maxReplicaCount is ${spec.maxReplicaCount}, expected ${fn.maxScale}`);
  const triggers = spec.triggers ?? [];
  for (const consumer of fn.consumers) {
    const matching = triggers.filter((trigger) => trigger.metadata?.consumer === consumer.durable);
    if (matching.length !== 1) {
      problems.push(`${where}: expected one nats-jetstream trigger for consumer ${consumer.durable}, found ${matching.length}`);
      continue;
    }
    const trigger = matching[0]!;
    const want: Record<string, string> = {
      natsServerMonitoringEndpoint: KEDA_MONITORING_ENDPOINT,
      account: KEDA_ACCOUNT,
      stream: consumer.stream,
      consumer: consumer.durable,
      lagThreshold: String(fn.maxInFlight),
    };
    if (trigger.type !== 'nats-jetstream') problems.push(`${where}: trigger for ${consumer.durable} has type ${trigger.type}`);
    for (const [key, value] of Object.entries(want)) {
      if (trigger.metadata?.[key] !== value) {
        problems.push(`${where}: trigger for ${consumer.durable} has ${key} ${JSON.stringify(trigger.metadata?.[key])}, expected ${JSON.stringify(value)}`);
      }
    }
    for (const key of Object.keys(trigger.metadata ?? {})) {
      if (!KEDA_TRIGGER_KEYS.includes(key)) problems.push(`${where}: trigger for ${consumer.durable} has unknown metadata key ${key}`);
    }
  }
  const known = new Set(fn.consumers.map((consumer) => consumer.durable));
  for (const trigger of triggers) {
    if (!known.has(trigger.metadata?.consumer ?? '')) {
      problems.push(`${where}: trigger for ${trigger.metadata?.consumer ?? '(no consumer)'} is not a consumer of ${fn.name}`);
    }
  }
  return problems;
}

function checkHpaScaling(objects: readonly KubeObject[], fn: FunctionSpec): string[] {
  const hpa = find(objects, 'HorizontalPodAutoscaler', fn.name);
  if (!hpa) return [`k8s: no HorizontalPodAutoscaler scales ${fn.name}`];
  const spec = hpa.spec as { scaleTargetRef?: { name?: string }; minReplicas?: number; maxReplicas?: number };
  const problems: string[] = [];
  if (spec.scaleTargetRef?.name !== fn.name) problems.push(`k8s HorizontalPodAutoscaler/${fn.name}: targets ${spec.scaleTargetRef?.name}`);
  if (spec.minReplicas !== fn.minScale || spec.maxReplicas !== fn.maxScale) {
    problems.push(`k8s HorizontalPodAutoscaler/${fn.name}: replicas ${spec.minReplicas}..${spec.maxReplicas}, expected ${fn.minScale}..${fn.maxScale}`);
  }
  return problems;
}

function checkKnativeScaling(ksvc: KubeObject, fn: FunctionSpec): string[] {
  const where = `knative Service/${fn.name}`;
  const template = podTemplateOf(ksvc)!;
  const annotations = template.metadata?.annotations ?? {};
  const problems: string[] = [];
  const want: Record<string, string> = {
    'autoscaling.knative.dev/min-scale': String(fn.minScale),
    'autoscaling.knative.dev/max-scale': String(fn.maxScale),
    'autoscaling.knative.dev/target': String(fn.targetConcurrency),
    'autoscaling.knative.dev/metric': 'concurrency',
  };
  for (const [key, value] of Object.entries(want)) {
    if (annotations[key] !== value) problems.push(`${where}: annotation ${key} is ${JSON.stringify(annotations[key])}, expected ${JSON.stringify(value)}`);
  }
  for (const key of Object.keys(annotations)) {
    if (key.startsWith('autoscaling.knative.dev/') && !KNATIVE_ANNOTATIONS.includes(key)) problems.push(`${where}: unknown annotation ${key}`);
  }
  if (Object.keys(ksvc.metadata.annotations ?? {}).some((key) => key.startsWith('autoscaling.knative.dev/'))) {
    problems.push(`${where}: autoscaling annotations belong on the revision template, not on the Service`);
  }
  const concurrency = template.spec.containerConcurrency ?? 0;
  if (concurrency !== fn.maxInFlight) problems.push(`${where}: containerConcurrency is ${concurrency}, expected ${fn.maxInFlight} (the source's slots per pod)`);
  if (fn.name === 'worker') {
    const longestMs = Math.max(...TASK_TYPES.map((type) => type.defaultTimeoutMs));
    const timeoutSeconds = template.spec.timeoutSeconds ?? 300;
    if (timeoutSeconds * 1000 < longestMs) problems.push(`${where}: timeoutSeconds ${timeoutSeconds} is shorter than the longest task (${longestMs} ms)`);
  }
  return problems;
}

function checkContainerSourceSink(source: KubeObject, fn: FunctionSpec): string[] {
  const sink = (source.spec as { sink?: { ref?: { apiVersion?: string; kind?: string; name?: string }; uri?: string } }).sink;
  const ref = sink?.ref;
  if (ref?.apiVersion === 'serving.knative.dev/v1' && ref.kind === 'Service' && ref.name === fn.name && !sink?.uri) return [];
  return [`knative ${nameOf(source)}: sink must be ref to the Knative Service ${fn.name}, got ${JSON.stringify(sink)}`];
}

/** Every difference between the topology and the rendered objects of one flavour. */
export function findDrift(objects: readonly KubeObject[], flavour: Flavour, topology: Topology = currentTopology()): string[] {
  const problems: string[] = [];
  const containers = containersOf(objects);
  const claimed = new Set<Container>();

  for (const process of topology.processes) {
    const role = roleOf(process, topology);
    const owner = expectedOwner(role, process, flavour);
    const matches = containers.filter((entry) => entry.container.name === process.name);
    if (matches.length === 0) {
      problems.push(`${flavour}: process ${process.name} has no container (expected in ${owner.kind}/${owner.name})`);
      continue;
    }
    if (matches.length > 1) problems.push(`${flavour}: process ${process.name} has ${matches.length} containers`);
    const entry = matches[0]!;
    matches.forEach((match) => claimed.add(match.container));
    const group = entry.owner.apiVersion.includes('/') ? entry.owner.apiVersion.split('/')[0] : '';
    if (entry.owner.kind !== owner.kind || entry.owner.metadata.name !== owner.name || group !== owner.group) {
      problems.push(`${flavour}: process ${process.name} runs in ${nameOf(entry.owner)} (${entry.owner.apiVersion}), expected ${owner.kind}/${owner.name} (${owner.group})`);
    }
    problems.push(...checkContainer(entry.owner, entry.container, process, role, flavour, topology));

    if (role.kind === 'dashboard') problems.push(...checkServicePort(objects, 'dashboard', Number(process.env.PORT), entry.template, `${process.name} PORT`));
    if (flavour === 'k8s' && (role.kind === 'function' || role.kind === 'source' || role.kind === 'gateway')) {
      const service = role.kind === 'gateway' ? 'gateway' : role.fn.name;
      problems.push(...checkServicePort(objects, service, Number(process.env.PORT), entry.template, `${process.name} PORT`));
    }
    if (flavour === 'knative' && role.kind === 'source') problems.push(...checkContainerSourceSink(entry.owner, role.fn));
  }

  for (const fn of topology.functions) {
    if (flavour === 'k8s') {
      problems.push(...(fn.consumers.length > 0 ? checkKedaScaling(objects, fn) : checkHpaScaling(objects, fn)));
    } else {
      const ksvc = objects.find((object) => isKnativeService(object) && object.metadata.name === fn.name);
      if (ksvc) problems.push(...checkKnativeScaling(ksvc, fn));
      else problems.push(`knative: function ${fn.name} has no Knative Service`);
    }
  }

  if (flavour === 'knative') {
    for (const object of objects.filter((candidate) => ['ScaledObject', 'HorizontalPodAutoscaler'].includes(candidate.kind))) {
      const target = (object.spec as { scaleTargetRef?: { name?: string } }).scaleTargetRef?.name ?? '';
      if (topology.functions.some((fn) => fn.name === target)) problems.push(`knative: ${nameOf(object)} scales ${target}, which Knative scales`);
    }
  }

  for (const { owner, container } of containers) {
    if (claimed.has(container) || INFRA_CONTAINERS.includes(container.name)) continue;
    if (flavour === 'knative' && EXAMPLE_CONTAINERS.includes(container.name)) continue;
    problems.push(`${flavour}: ${nameOf(owner)} container ${container.name} is neither a process of the local stack nor known infrastructure`);
  }
  return problems;
}
