// Does every reference in the rendered manifests point at something real? Images (our one image
// and its bundles, or pinned third-party images), Services and their target ports, Secrets and
// ConfigMaps and their keys, autoscaler targets, selectors, in-cluster URLs in the environment,
// files named by the environment, and resources on every container. Pure: objects in, problems
// out; `bundleExists` is how a /app/dist path is looked up in the build output.
import {
  containersOf,
  isCoreService,
  isKnativeService,
  nameOf,
  podTemplateOf,
  type Container,
  type KubeObject,
  type PodTemplate,
} from './kube-manifests';
import { APP_IMAGE, NAMESPACE } from './kube-drift';
import { NODE_V8_FLAGS } from '../../shared/topology';

export const APP_DIST = '/app/dist/';

/** name:tag with a real tag (or a digest); `latest` and untagged images float. */
export function isPinnedImage(image: string): boolean {
  if (image.includes('@sha256:')) return true;
  const lastSegment = image.split('/').pop() ?? '';
  const tag = lastSegment.includes(':') ? lastSegment.split(':').pop() : undefined;
  return tag !== undefined && tag !== '' && tag !== 'latest';
}

/** `node` followed by the V8 flags every process runs with (they cannot go in NODE_OPTIONS). */
function startsWithV8Flags(command: readonly string[]): boolean {
  return NODE_V8_FLAGS.every((flag, index) => command[index + 1] === flag);
}

export function checkImages(objects: readonly KubeObject[], bundleExists: (relativePath: string) => boolean): string[] {
  const problems: string[] = [];
  for (const { owner, container } of containersOf(objects)) {
    const where = `${nameOf(owner)} container ${container.name}`;
    const image = container.image ?? '';
    if (image === APP_IMAGE) {
      const command = [...(container.command ?? []), ...(container.args ?? [])];
      if (command[0] !== 'node') problems.push(`${where}: runs ${JSON.stringify(command[0])}, the image provides node`);
      else if (!startsWithV8Flags(command)) problems.push(`${where}: node must start with ${NODE_V8_FLAGS.join(' ')} (shared/topology.ts), as the local stack does`);
      const paths = command.filter((arg) => arg.startsWith('/app/'));
      if (paths.length === 0) problems.push(`${where}: runs no bundle from ${APP_DIST}`);
      for (const path of paths) {
        if (!path.startsWith(APP_DIST)) problems.push(`${where}: ${path} is outside ${APP_DIST}, where the image keeps the bundles`);
        else if (!bundleExists(path.slice(APP_DIST.length))) problems.push(`${where}: ${path} is not produced by \`npm run build\` (dist/${path.slice(APP_DIST.length)})`);
      }
      if ((container as { imagePullPolicy?: string }).imagePullPolicy !== 'IfNotPresent') {
        problems.push(`${where}: ${APP_IMAGE} is built locally: imagePullPolicy must be IfNotPresent`);
      }
    } else if (!isPinnedImage(image)) {
      problems.push(`${where}: image ${JSON.stringify(image)} is neither ${APP_IMAGE} nor pinned to a version tag`);
    }
  }
  return problems;
}

function labelsMatch(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([key, value]) => labels?.[key] === value);
}

function templatesMatching(objects: readonly KubeObject[], selector: Record<string, string>): PodTemplate[] {
  return objects
    .map(podTemplateOf)
    .filter((template): template is PodTemplate => template !== undefined && labelsMatch(selector, template.metadata?.labels));
}

export function checkServices(objects: readonly KubeObject[]): string[] {
  const problems: string[] = [];
  for (const service of objects.filter(isCoreService)) {
    const spec = service.spec as { selector?: Record<string, string>; ports?: { name?: string; port: number; targetPort?: number | string }[] };
    const where = `Service/${service.metadata.name}`;
    if (!spec.selector || Object.keys(spec.selector).length === 0) {
      problems.push(`${where}: has no selector`);
      continue;
    }
    const templates = templatesMatching(objects, spec.selector);
    if (templates.length === 0) {
      problems.push(`${where}: selector ${JSON.stringify(spec.selector)} matches no pod template`);
      continue;
    }
    for (const port of spec.ports ?? []) {
      const target = port.targetPort ?? port.port;
      const served = templates.some((template) =>
        template.spec.containers.some((container) =>
          (container.ports ?? []).some((candidate) => (typeof target === 'number' ? candidate.containerPort === target : candidate.name === target)),
        ),
      );
      if (!served) problems.push(`${where}: port ${port.port} targets ${String(target)}, which no selected container exposes`);
    }
  }
  return problems;
}

function findNamed(objects: readonly KubeObject[], kind: string, name: string): KubeObject | undefined {
  return objects.find((object) => object.kind === kind && object.apiVersion === 'v1' && object.metadata.name === name);
}

/** Secret name → keys, for Secrets the operator creates (operator-secrets.ts reads them from docs/deploy.md). */
export type OperatorSecretKeys = ReadonlyMap<string, readonly string[]>;

/** The keys a Secret or ConfigMap holds: rendered, or documented for the operator to create. */
function keysOf(objects: readonly KubeObject[], kind: string, name: string, operatorSecrets: OperatorSecretKeys): readonly string[] | undefined {
  const target = findNamed(objects, kind, name);
  if (target) return Object.keys(target.data ?? {});
  return kind === 'Secret' ? operatorSecrets.get(name) : undefined;
}

const notThere = (kind: string, name: string) =>
  kind === 'Secret' ? `Secret ${name}, which is neither rendered nor created by the operator (docs/deploy.md, "Secrets")` : `${kind} ${name}, which is not rendered`;

/**
 * Secrets and ConfigMaps named by env and volumes exist, with the keys asked for. A Secret that
 * is not rendered may only be one of `operatorSecrets`, with a key that its documented command creates.
 */
export function checkConfigReferences(objects: readonly KubeObject[], operatorSecrets: OperatorSecretKeys = new Map()): string[] {
  const problems: string[] = [];
  for (const { owner, template, container } of containersOf(objects)) {
    const where = `${nameOf(owner)} container ${container.name}`;
    for (const variable of container.env ?? []) {
      const refs = [
        ['Secret', variable.valueFrom?.secretKeyRef] as const,
        ['ConfigMap', variable.valueFrom?.configMapKeyRef] as const,
      ];
      for (const [kind, ref] of refs) {
        if (!ref) continue;
        const keys = keysOf(objects, kind, ref.name, operatorSecrets);
        if (!keys) problems.push(`${where}: env ${variable.name} reads ${notThere(kind, ref.name)}`);
        else if (!keys.includes(ref.key)) problems.push(`${where}: env ${variable.name} reads key ${ref.key} missing from ${kind} ${ref.name}`);
      }
    }
    // A StatefulSet's volumeClaimTemplates are volumes of its pods too.
    const claims = ((owner.spec as { volumeClaimTemplates?: { metadata: { name: string } }[] }).volumeClaimTemplates ?? []).map((claim) => claim.metadata.name);
    for (const mount of container.volumeMounts ?? []) {
      if (!(template.spec.volumes ?? []).some((volume) => volume.name === mount.name) && !claims.includes(mount.name)) {
        problems.push(`${where}: mounts volume ${mount.name}, which the pod does not define`);
      }
    }
  }
  for (const owner of objects) {
    for (const volume of podTemplateOf(owner)?.spec.volumes ?? []) {
      if (volume.secret && !keysOf(objects, 'Secret', volume.secret.secretName, operatorSecrets)) {
        problems.push(`${nameOf(owner)}: volume ${volume.name} uses ${notThere('Secret', volume.secret.secretName)}`);
      }
      if (volume.configMap && !findNamed(objects, 'ConfigMap', volume.configMap.name)) {
        problems.push(`${nameOf(owner)}: volume ${volume.name} uses ConfigMap ${volume.configMap.name}, which is not rendered`);
      }
    }
  }
  return problems;
}

/** A file named by an env var (…_FILE) lies in a mounted Secret or ConfigMap that has it. */
export function checkFileReferences(objects: readonly KubeObject[], operatorSecrets: OperatorSecretKeys = new Map()): string[] {
  const problems: string[] = [];
  for (const { owner, template, container } of containersOf(objects)) {
    for (const variable of (container.env ?? []).filter((candidate) => candidate.name.endsWith('_FILE') && candidate.value)) {
      const path = variable.value!;
      const mount = (container.volumeMounts ?? []).find((candidate) => path.startsWith(`${candidate.mountPath}/`));
      const volume = mount && template.spec.volumes?.find((candidate) => candidate.name === mount.name);
      const keys = volume?.secret
        ? keysOf(objects, 'Secret', volume.secret.secretName, operatorSecrets)
        : volume?.configMap
          ? keysOf(objects, 'ConfigMap', volume.configMap.name, operatorSecrets)
          : undefined;
      const key = mount ? path.slice(mount.mountPath.length + 1) : '';
      if (!keys || !keys.includes(key)) {
        problems.push(`${nameOf(owner)} container ${container.name}: ${variable.name}=${path} is not a key of a mounted Secret or ConfigMap`);
      }
    }
  }
  return problems;
}

/** Autoscalers scale a rendered Deployment; PDB and NetworkPolicy selectors select pods. */
export function checkTargets(objects: readonly KubeObject[]): string[] {
  const problems: string[] = [];
  for (const object of objects) {
    if (object.kind === 'ScaledObject' || object.kind === 'HorizontalPodAutoscaler') {
      const ref = (object.spec as { scaleTargetRef?: { kind?: string; name?: string } }).scaleTargetRef;
      const kind = ref?.kind ?? 'Deployment';
      if (!objects.some((candidate) => candidate.kind === kind && candidate.metadata.name === ref?.name)) {
        problems.push(`${nameOf(object)}: scales ${kind}/${ref?.name}, which is not rendered`);
      }
    }
    if (object.kind === 'PodDisruptionBudget' || object.kind === 'NetworkPolicy') {
      const selector = (object.spec as { selector?: { matchLabels?: Record<string, string> }; podSelector?: { matchLabels?: Record<string, string> } });
      const labels = (selector.selector ?? selector.podSelector)?.matchLabels ?? {};
      if (Object.keys(labels).length > 0 && templatesMatching(objects, labels).length === 0) {
        problems.push(`${nameOf(object)}: selector ${JSON.stringify(labels)} matches no pod template`);
      }
    }
    if (object.kind === 'NetworkPolicy') {
      type Peer = { podSelector?: { matchLabels?: Record<string, string> }; namespaceSelector?: unknown };
      const rules = ((object.spec as { ingress?: { from?: Peer[] }[] }).ingress ?? []).flatMap((rule) => rule.from ?? []);
      for (const peer of rules) {
        const labels = peer.podSelector?.matchLabels ?? {};
        if (!peer.namespaceSelector && Object.keys(labels).length > 0 && templatesMatching(objects, labels).length === 0) {
          problems.push(`${nameOf(object)}: allows traffic from ${JSON.stringify(labels)}, which matches no pod template`);
        }
      }
    }
  }
  return problems;
}

function servicePorts(objects: readonly KubeObject[], host: string): number[] | undefined {
  // Inside the namespace a Service answers to <name>, <name>.<ns>, <name>.<ns>.svc[.cluster.local].
  const [name, namespace, ...rest] = host.split('.');
  if (namespace !== undefined && (namespace !== NAMESPACE || !['svc', 'svc.cluster.local'].includes(rest.join('.')))) return undefined;
  const core = objects.find((object) => isCoreService(object) && object.metadata.name === name);
  if (core) return ((core.spec as { ports?: { port: number }[] }).ports ?? []).map((port) => port.port);
  // A Knative Service is reached through Knative's ingress on port 80.
  if (objects.some((object) => isKnativeService(object) && object.metadata.name === name)) return [80];
  return undefined;
}

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443, 'nats:': 4222, 'redis:': 6379 };

function checkUrl(objects: readonly KubeObject[], template: PodTemplate, container: Container, raw: string): string | undefined {
  const url = new URL(raw);
  const port = url.port === '' ? DEFAULT_PORTS[url.protocol] : Number(url.port);
  if (url.hostname === '127.0.0.1' || url.hostname === 'localhost') {
    const local = template.spec.containers.some((other) => other !== container && (other.ports ?? []).some((candidate) => candidate.containerPort === port));
    return local ? undefined : `${raw} is no port of another container in the same pod`;
  }
  const ports = servicePorts(objects, url.hostname);
  if (!ports) return `${raw} names no Service of the render`;
  return port !== undefined && ports.includes(port) ? undefined : `${raw}: Service ${url.hostname} has no port ${port}`;
}

/** In-cluster URLs in the environment, and KEDA's monitoring endpoint, reach a Service port. */
export function checkUrls(objects: readonly KubeObject[]): string[] {
  const problems: string[] = [];
  for (const { owner, template, container } of containersOf(objects)) {
    for (const variable of container.env ?? []) {
      if (!variable.value || !/^[a-z]+:\/\//.test(variable.value)) continue;
      const problem = checkUrl(objects, template, container, variable.value);
      if (problem) problems.push(`${nameOf(owner)} container ${container.name}: ${variable.name}=${problem}`);
    }
  }
  for (const scaled of objects.filter((object) => object.kind === 'ScaledObject')) {
    for (const trigger of (scaled.spec as { triggers?: { metadata?: Record<string, string> }[] }).triggers ?? []) {
      const endpoint = trigger.metadata?.natsServerMonitoringEndpoint;
      if (!endpoint) continue;
      const problem = checkUrl(objects, { spec: { containers: [] } }, { name: '' }, `http://${endpoint}`);
      if (problem) problems.push(`${nameOf(scaled)}: natsServerMonitoringEndpoint ${problem}`);
    }
  }
  return problems;
}

/** Requests and limits for CPU and memory on every container; no privileges anywhere. */
export function checkPodHygiene(objects: readonly KubeObject[]): string[] {
  const problems: string[] = [];
  for (const { owner, template, container } of containersOf(objects)) {
    const where = `${nameOf(owner)} container ${container.name}`;
    for (const kind of ['requests', 'limits'] as const) {
      for (const resource of ['cpu', 'memory']) {
        if (!container.resources?.[kind]?.[resource]) problems.push(`${where}: no ${resource} ${kind.slice(0, -1)}`);
      }
    }
    const security = (container as { securityContext?: { allowPrivilegeEscalation?: boolean; runAsNonRoot?: boolean } }).securityContext;
    const pod = (template.spec as { securityContext?: { runAsNonRoot?: boolean } }).securityContext;
    if (security?.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation must be false`);
    if (security?.runAsNonRoot !== true && pod?.runAsNonRoot !== true) problems.push(`${where}: must run as non-root`);
  }
  return problems;
}
