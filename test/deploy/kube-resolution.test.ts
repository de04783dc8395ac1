// Every image, command, port and reference in the rendered k8s/ and knative/ resolves: our image
// runs bundles that `npm run build` really produces (npm test builds before it tests), third-party
// images are pinned, Services reach container ports, Secrets/ConfigMaps/keys exist, URLs in the
// environment reach a Service port. Secrets are not shipped: the ones the operator creates with
// the commands of docs/deploy.md are the only references allowed to point outside the render.
// Each check is shown to fail on a broken copy.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { withDefaults } from './compose-drift';
import { loadGatewayConfig } from '../../gateway/config';
import { createEnvReader } from '../../shared/config';
import { readTaskTypes } from '../../shared/task-registry';
import { TASK_TYPES } from '../../shared/task-types';
import { NODE_V8_FLAGS } from '../../shared/topology';
import { loadSourceConfig } from '../../source/config';
import { APP_IMAGE, INFRA_CONTAINERS } from './kube-drift';
import { cloneObjects, containersOf, find, nameOf, podTemplateOf, renderObjects, type Container, type KubeObject, type PodTemplate } from './kube-manifests';
import {
  checkConfigReferences,
  checkFileReferences,
  checkImages,
  checkPodHygiene,
  checkServices,
  checkTargets,
  checkUrls,
  isPinnedImage,
} from './kube-resolution';
import { checkNotShipped, DEPLOY_DOC, readOperatorSecrets, toOperatorSecretObjects, type OperatorSecrets } from './operator-secrets';

const DIST = 'dist';
const rendered: Record<'k8s' | 'knative', KubeObject[]> = { k8s: [], knative: [] };
const bundleExists = (relativePath: string) => existsSync(join(DIST, relativePath));
const operatorSecrets: OperatorSecrets = readOperatorSecrets(readFileSync(DEPLOY_DOC, 'utf8'));
/** The Secrets as the documented commands create them: random values, `tenant:key` for the key file. */
const created = toOperatorSecretObjects(operatorSecrets, (secret, key) => {
  const value = randomBytes(24).toString('hex');
  if (secret === 'gateway-api-keys') return `default:${value}\n`;
  return key === 'admin-user' ? 'admin' : value;
});

beforeAll(() => {
  rendered.k8s = renderObjects('k8s');
  rendered.knative = renderObjects('knative');
});

describe('Secrets the operator creates (docs/deploy.md)', () => {
  it('the guide creates the NATS passwords, the API keys file and the Grafana login', () => {
    expect([...operatorSecrets.keys()].sort()).toEqual(['gateway-api-keys', 'grafana-admin', 'nats-credentials']);
    expect(operatorSecrets.get('gateway-api-keys')).toEqual(['api-keys']);
    expect(operatorSecrets.get('grafana-admin')).toEqual(['admin-user', 'admin-password']);
  });

  it.each(['k8s', 'knative'] as const)('%s ships none of them, and references each one it needs', (flavour) => {
    expect(checkNotShipped(rendered[flavour], operatorSecrets)).toEqual([]);
    const referenced = new Set(
      containersOf(rendered[flavour]).flatMap(({ template, container }) => [
        ...(container.env ?? []).flatMap((variable) => (variable.valueFrom?.secretKeyRef ? [variable.valueFrom.secretKeyRef.name] : [])),
        ...(template.spec.volumes ?? []).flatMap((volume) => (volume.secret ? [volume.secret.secretName] : [])),
      ]),
    );
    expect([...referenced].sort()).toEqual([...operatorSecrets.keys()].sort());
  });

  it('the guide is read as written: a command names its Secret and keys, a for loop its users', () => {
    const guide = [
      'kubectl -n taskmanager create secret generic one --from-literal=a=x \\',
      '  --from-file=b=b.txt',
      '',
      'kubectl -n taskmanager create secret generic two $(for user in u1 u2; do printf -- \'--from-literal=%s=%s \' "$user" x; done)',
      'kubectl -n elsewhere create secret generic three --from-literal=c=y',
    ].join('\n');
    expect(Object.fromEntries(readOperatorSecrets(guide))).toEqual({ one: ['a', 'b'], two: ['u1', 'u2'] });
  });
});

describe.each(['k8s', 'knative'] as const)('%s: every reference resolves', (flavour) => {
  it('our image runs bundles that the build produces; other images are pinned', () => {
    if (!existsSync(join(DIST, 'telemetry.cjs'))) {
      throw new Error('dist/ has no bundles: run `npm run build` first (npm test does)');
    }
    expect(checkImages(rendered[flavour], bundleExists)).toEqual([]);
  });

  it('every node of our image starts with the V8 flags of the local stack; one without them is named', () => {
    const objects = cloneObjects(rendered[flavour]);
    const { owner, container } = containersOf(objects).find((candidate) => candidate.container.image === APP_IMAGE)!;
    container.args = (container.args ?? []).filter((arg) => !NODE_V8_FLAGS.includes(arg));
    expect(checkImages(objects, bundleExists)).toEqual([
      `${nameOf(owner)} container ${container.name}: node must start with ${NODE_V8_FLAGS.join(' ')} (shared/topology.ts), as the local stack does`,
    ]);
  });

  it('Services select pods and target ports their containers expose', () => {
    expect(checkServices(rendered[flavour])).toEqual([]);
  });

  it('Secrets (rendered or created by the operator), ConfigMaps, their keys and the files named by the environment exist', () => {
    expect([...checkConfigReferences(rendered[flavour], operatorSecrets), ...checkFileReferences(rendered[flavour], operatorSecrets)]).toEqual([]);
  });

  it('autoscalers, disruption budgets and network policies select what exists', () => {
    expect(checkTargets(rendered[flavour])).toEqual([]);
  });

  it('in-cluster URLs and the KEDA monitoring endpoint reach a Service port', () => {
    expect(checkUrls(rendered[flavour])).toEqual([]);
  });

  it('every container has CPU and memory requests and limits and runs without privileges', () => {
    expect(checkPodHygiene(rendered[flavour])).toEqual([]);
  });
});

/** Reads a file from the container's volume mounts, as the process would: a Secret's keys
 * (decoded) or a ConfigMap's, under the mount path. */
function mountedFileReader(objects: readonly KubeObject[], template: PodTemplate, container: Container): (path: string) => string {
  return (path) => {
    const mount = (container.volumeMounts ?? []).find((candidate) => path.startsWith(`${candidate.mountPath}/`));
    const volume = mount && template.spec.volumes?.find((candidate) => candidate.name === mount.name);
    if (!mount || !volume) throw new Error(`${path} is on no volume of ${container.name}`);
    const key = path.slice(mount.mountPath.length + 1);
    if (volume.secret) {
      const data = find(objects, 'Secret', volume.secret.secretName, '')?.data?.[key];
      if (data === undefined) throw new Error(`${path} is not in Secret ${volume.secret.secretName}`);
      return Buffer.from(data, 'base64').toString('utf8');
    }
    const text = volume.configMap && (find(objects, 'ConfigMap', volume.configMap.name, '') as { data?: Record<string, string> } | undefined)?.data?.[key];
    if (text === undefined) throw new Error(`${path} is not in the volume ${volume.name}`);
    return text;
  };
}

/** A container's environment as the process sees it: Secret references decoded. */
function resolvedEnv(objects: readonly KubeObject[], container: Container, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    const ref = variable.valueFrom?.secretKeyRef;
    const secret = ref && find(objects, 'Secret', ref.name, '');
    env[variable.name] = ref ? Buffer.from(secret?.data?.[ref.key] ?? '', 'base64').toString('utf8') : (variable.value ?? '');
  }
  return { ...env, ...extra };
}

describe.each(['k8s', 'knative'] as const)('%s: the processes accept their deployed configuration, with the Secrets created as documented', (flavour) => {
  it('the gateway loads its environment, the mounted API keys file and task type registry included', () => {
    const objects = [...rendered[flavour], ...created];
    const { template, container } = containersOf(objects).find((entry) => entry.container.name === 'gateway')!;
    const config = loadGatewayConfig(resolvedEnv(objects, container), { cwd: process.cwd(), readFile: mountedFileReader(objects, template, container) });
    expect(config.port).toBe(50051);
    expect(config.apiKeys.length).toBeGreaterThan(0);
    expect(config.taskTypes.map((type) => type.type)).toEqual([...TASK_TYPES.map((type) => type.type), ...(flavour === 'knative' ? ['word-stats'] : [])]);
  });

  it('ingest and the worker read the same mounted registry; its HTTP handlers are Services of the render', () => {
    const objects = [...rendered[flavour], ...created];
    for (const name of ['ingest', 'worker']) {
      const { template, container } = containersOf(objects).find((entry) => entry.container.name === name)!;
      const reader = createEnvReader(resolvedEnv(objects, container));
      const types = readTaskTypes(reader, mountedFileReader(objects, template, container));
      reader.finish();
      for (const type of types) {
        if (type.handler.kind !== 'http') continue;
        const host = new URL(type.handler.url).hostname;
        const [service, namespace] = host.split('.');
        expect(namespace, `${name}: ${type.type}`).toBe('taskmanager');
        expect(find(objects, 'Service', service!, 'serving.knative.dev') ?? find(objects, 'Service', service!, ''), `${name}: ${type.type} -> ${host}`).toBeDefined();
      }
    }
  });

  it('every source loads its environment (Knative injects K_SINK)', () => {
    const objects = [...rendered[flavour], ...created];
    const sources = containersOf(objects).filter((entry) => entry.container.name.endsWith('-source'));
    expect(sources.length).toBeGreaterThan(0);
    for (const { container } of sources) {
      const extra: Record<string, string> = flavour === 'knative' ? { K_SINK: 'http://sink.example/' } : {};
      const config = loadSourceConfig(resolvedEnv(objects, container, extra));
      expect(`${config.component}`).toBe(`source-${container.name.replace(/-source$/, '')}`);
    }
  });
});

describe('broken references are caught', () => {
  it('a bundle the build does not produce, a floating image and a wrong pull policy', () => {
    const objects = cloneObjects(rendered.k8s);
    const worker = podTemplateOf(find(objects, 'Deployment', 'worker')!)!.spec.containers[0]!;
    worker.args = worker.args!.map((arg) => arg.replace('functions/worker.cjs', 'functions/wroker.cjs'));
    (worker as { imagePullPolicy?: string }).imagePullPolicy = 'Always';
    podTemplateOf(find(objects, 'StatefulSet', 'redis')!)!.spec.containers[0]!.image = 'redis:latest';
    expect(checkImages(objects, bundleExists)).toEqual([
      'Deployment/worker container worker: /app/dist/functions/wroker.cjs is not produced by `npm run build` (dist/functions/wroker.cjs)',
      'Deployment/worker container worker: taskmanager:local is built locally: imagePullPolicy must be IfNotPresent',
      'StatefulSet/redis container redis: image "redis:latest" is neither taskmanager:local nor pinned to a version tag',
    ]);
    expect(['nats', 'nats:2.10', 'ghcr.io/x/y:latest', 'localhost:5000/app', 'app@sha256:abc'].map(isPinnedImage)).toEqual([false, true, false, false, true]);
  });

  it('a Service port that no container exposes, and a Secret key the guide does not create', () => {
    const objects = cloneObjects(rendered.k8s);
    const service = find(objects, 'Service', 'notifier', '')!;
    (service.spec!.ports as { port: number; targetPort: number | string }[])[0]!.targetPort = 'htp';
    const documented = new Map(operatorSecrets);
    documented.set('nats-credentials', documented.get('nats-credentials')!.filter((key) => key !== 'audit-source'));
    expect(checkServices(objects)).toEqual(['Service/notifier: port 8105 targets htp, which no selected container exposes']);
    expect(checkConfigReferences(objects, documented)).toEqual([
      'Deployment/audit container audit-source: env NATS_PASSWORD reads key audit-source missing from Secret nats-credentials',
      'StatefulSet/nats container nats: env SECRET_NATS_PASSWORD_AUDIT_SOURCE reads key audit-source missing from Secret nats-credentials',
    ]);
  });

  it('a Secret that is neither rendered nor created by the operator, and a shipped operator Secret', () => {
    const objects = cloneObjects(rendered.k8s);
    const gateway = podTemplateOf(find(objects, 'Deployment', 'gateway')!)!;
    gateway.spec.volumes!.find((volume) => volume.secret)!.secret!.secretName = 'gateway-keys';
    const grafana = podTemplateOf(find(objects, 'Deployment', 'grafana')!)!.spec.containers[0]!;
    grafana.env!.find((variable) => variable.name === 'GF_SECURITY_ADMIN_PASSWORD')!.valueFrom!.secretKeyRef!.name = 'grafana';
    const why = 'which is neither rendered nor created by the operator (docs/deploy.md, "Secrets")';
    expect(checkConfigReferences(objects, operatorSecrets)).toEqual([
      `Deployment/grafana container grafana: env GF_SECURITY_ADMIN_PASSWORD reads Secret grafana, ${why}`,
      `Deployment/gateway: volume api-keys uses Secret gateway-keys, ${why}`,
    ]);
    expect(checkFileReferences(objects, operatorSecrets)).toEqual([
      'Deployment/gateway container gateway: TM_API_KEYS_FILE=/etc/taskmanager/api-keys/api-keys is not a key of a mounted Secret or ConfigMap',
    ]);
    // Without the guide, every reference to an operator Secret is one to nothing.
    expect(checkConfigReferences(rendered.k8s).length).toBeGreaterThan(0);
    expect(checkNotShipped([...rendered.k8s, ...created], operatorSecrets).sort()).toEqual([
      `Secret/gateway-api-keys is rendered, but the operator creates it (${DEPLOY_DOC}): remove it from the manifests`,
      `Secret/grafana-admin is rendered, but the operator creates it (${DEPLOY_DOC}): remove it from the manifests`,
      `Secret/nats-credentials is rendered, but the operator creates it (${DEPLOY_DOC}): remove it from the manifests`,
    ]);
  });

  it('a URL to a Service port that does not exist, and a KEDA endpoint in another namespace', () => {
    const objects = cloneObjects(rendered.k8s);
    const gateway = podTemplateOf(find(objects, 'Deployment', 'gateway')!)!.spec.containers[0]!;
    gateway.env!.find((variable) => variable.name === 'REDIS_URL')!.value = 'redis://redis:6380';
    const scaled = find(objects, 'ScaledObject', 'audit')!;
    (scaled.spec!.triggers as { metadata: Record<string, string> }[])[0]!.metadata.natsServerMonitoringEndpoint = 'nats.nats.svc:8222';
    expect(checkUrls(objects)).toEqual([
      'Deployment/gateway container gateway: REDIS_URL=redis://redis:6380: Service redis has no port 6380',
      'ScaledObject/audit: natsServerMonitoringEndpoint http://nats.nats.svc:8222 names no Service of the render',
    ]);
  });

  it('an autoscaler without its Deployment and a policy that selects nothing', () => {
    const objects = cloneObjects(rendered.k8s).filter((object) => !(object.kind === 'Deployment' && object.metadata.name === 'enricher'));
    expect(checkTargets(objects)).toEqual([
      'HorizontalPodAutoscaler/enricher: scales Deployment/enricher, which is not rendered',
      'NetworkPolicy/enricher: selector {"app.kubernetes.io/name":"enricher"} matches no pod template',
    ]);
  });

  it('a container without limits', () => {
    const objects = cloneObjects(rendered.knative);
    delete podTemplateOf(find(objects, 'ContainerSource', 'ingest-source')!)!.spec.containers[0]!.resources!.limits;
    expect(checkPodHygiene(objects)).toEqual([
      'ContainerSource/ingest-source container ingest-source: no cpu limit',
      'ContainerSource/ingest-source container ingest-source: no memory limit',
    ]);
  });
});

// docker-compose.yml is written beside these manifests; both must run the same third-party
// versions. Skipped (with the reason) only while docker-compose.yml does not exist yet.
describe('third-party images', () => {
  const compose = 'docker-compose.yml';
  it.skipIf(!existsSync(compose))('are the versions docker-compose.yml runs (skipped while docker-compose.yml does not exist)', () => {
    const services = (parse(readFileSync(compose, 'utf8')) as { services: Record<string, { image?: string }> }).services;
    const mismatches: string[] = [];
    for (const flavour of ['k8s', 'knative'] as const) {
      for (const { owner, container } of containersOf(rendered[flavour])) {
        if (!INFRA_CONTAINERS.includes(container.name)) continue;
        const declared = services[container.name]?.image;
        // Compose may take another image from the environment (NATS_IMAGE); its default is the one compared.
        const composeImage = declared === undefined ? undefined : withDefaults(declared);
        if (composeImage !== container.image) {
          mismatches.push(`${flavour} ${owner.kind}/${owner.metadata.name}: ${container.image}, compose service ${container.name}: ${String(composeImage)}`);
        }
      }
    }
    expect(mismatches).toEqual([]);
  });
});
