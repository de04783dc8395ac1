// kustomize cannot read files outside a kustomization, so k8s/ keeps copies of the configs under
// configs/ (NATS, Envoy, the observability stack). The copies must stay byte-for-byte equal to
// the originals, and what the manifests assume about them (NATS users and password variables,
// ports, Service addresses) must hold. A check whose original does not exist yet is skipped with
// the reason.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { containersOf, isCoreService, renderObjects, type KubeObject } from './kube-manifests';

const OBSERVABILITY_COPIES = 'k8s/base/observability/configs';
const OBSERVABILITY_CONFIGS = ['otel-collector', 'tempo', 'loki', 'grafana'];

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** copy -> original, relative to the repository root. */
function configCopies(): { copy: string; original: string }[] {
  return [
    { copy: 'k8s/base/nats/nats.conf', original: 'configs/nats/nats.conf' },
    { copy: 'k8s/base/envoy/envoy.yaml', original: 'configs/envoy/envoy.yaml' },
    ...filesUnder(OBSERVABILITY_COPIES).map((copy) => ({ copy, original: join('configs', relative(OBSERVABILITY_COPIES, copy)) })),
  ];
}

const rendered: Record<'k8s' | 'knative', KubeObject[]> = { k8s: [], knative: [] };

beforeAll(() => {
  rendered.k8s = renderObjects('k8s');
  rendered.knative = renderObjects('knative');
});

describe('copies of configs/ under k8s/', () => {
  for (const { copy, original } of configCopies()) {
    it.skipIf(!existsSync(original))(`${copy} equals ${original} byte for byte (skipped while ${original} does not exist)`, () => {
      expect(readFileSync(copy).equals(readFileSync(original)), `copy ${original} to ${copy}`).toBe(true);
    });
  }

  const shipped = OBSERVABILITY_CONFIGS.flatMap((name) => filesUnder(join('configs', name)));
  it.skipIf(shipped.length === 0)('every observability config under configs/ has its copy (skipped while there is none)', () => {
    const copied = new Set(configCopies().map((entry) => entry.original));
    expect(shipped.filter((file) => !copied.has(file)).map((file) => `${file} has no copy under ${OBSERVABILITY_COPIES}/`)).toEqual([]);
  });
});

/** `user: name` entries and `$NATS_PASSWORD_*` references of a nats.conf. */
function readNatsUsers(conf: string): { users: string[]; passwordVariables: string[] } {
  const withoutComments = conf.replace(/#.*$/gm, '');
  const users = [...withoutComments.matchAll(/\buser\s*[:=]\s*"?([A-Za-z0-9_-]+)"?/g)].map((match) => match[1]!);
  const passwordVariables = [...withoutComments.matchAll(/\$(NATS_PASSWORD_[A-Z0-9_]+)/g)].map((match) => match[1]!);
  return { users, passwordVariables };
}

function toPasswordVariable(user: string): string {
  return `NATS_PASSWORD_${user.toUpperCase().replace(/-/g, '_')}`;
}

describe.each(['k8s', 'knative'] as const)('%s: what the manifests assume about nats.conf holds', (flavour) => {
  const original = 'configs/nats/nats.conf';
  const skip = !existsSync(original);

  it.skipIf(skip)(`every component's NATS_USER is a user of nats.conf, and every user is deployed (skipped while ${original} does not exist)`, () => {
    const { users } = readNatsUsers(readFileSync('k8s/base/nats/nats.conf', 'utf8'));
    const deployed = containersOf(rendered[flavour]).flatMap(({ container }) => (container.env ?? []).filter((v) => v.name === 'NATS_USER').map((v) => v.value ?? ''));
    expect([...new Set(deployed)].sort()).toEqual([...new Set(users)].sort());
  });

  it.skipIf(skip)(`the NATS server gets every password variable nats.conf references: the user's secret key, in double quotes (skipped while ${original} does not exist)`, () => {
    const { users, passwordVariables } = readNatsUsers(readFileSync('k8s/base/nats/nats.conf', 'utf8'));
    const nats = containersOf(rendered[flavour]).find(({ container }) => container.name === 'nats')!.container;
    const env = nats.env ?? [];
    const problems: string[] = [];
    for (const variable of passwordVariables) {
      if (!env.some((candidate) => candidate.name === variable)) problems.push(`${variable} is referenced by nats.conf but not given to the nats container`);
    }
    for (const user of users) {
      // nats-server parses the value as config syntax: "$(RAW)" quotes the bare secret, and
      // Kubernetes expands $(RAW) from a variable defined before it.
      const index = env.findIndex((candidate) => candidate.name === toPasswordVariable(user));
      const raw = /^"\$\(([A-Z0-9_]+)\)"$/.exec(env[index]?.value ?? '')?.[1];
      const rawIndex = env.findIndex((candidate) => candidate.name === raw);
      const ref = env[rawIndex]?.valueFrom?.secretKeyRef;
      if (index < 0 || rawIndex < 0 || rawIndex > index || ref?.name !== 'nats-credentials' || ref.key !== user) {
        problems.push(`${toPasswordVariable(user)} must be "$(X)" with X defined before it from nats-credentials/${user}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it.skipIf(skip)(`the ports and the JetStream store of nats.conf are the ones the StatefulSet exposes and mounts (skipped while ${original} does not exist)`, () => {
    const conf = readFileSync('k8s/base/nats/nats.conf', 'utf8').replace(/#.*$/gm, '');
    const nats = containersOf(rendered[flavour]).find(({ container }) => container.name === 'nats')!.container;
    const ports = (nats.ports ?? []).map((port) => port.containerPort);
    const client = /^\s*(?:port|listen)\s*[:=]\s*(?:[\d.]*:)?(\d+)/m.exec(conf)?.[1] ?? '4222';
    const monitor = /^\s*(?:http_port|http|monitor_port)\s*[:=]\s*(?:[\d.]*:)?(\d+)/m.exec(conf)?.[1];
    const storeDir = /store_dir\s*[:=]\s*"?([^\s"]+)"?/.exec(conf)?.[1];
    expect(ports).toContain(Number(client));
    expect(monitor, 'nats.conf enables monitoring (KEDA and the probes read it)').toBeDefined();
    expect(ports).toContain(Number(monitor));
    const data = (nats.volumeMounts ?? []).find((mount) => mount.name === 'data')!;
    expect(storeDir?.startsWith(`${data.mountPath}/`) || storeDir === data.mountPath, `store_dir ${storeDir} lies on the PVC (${data.mountPath})`).toBe(true);
    // Users of the `authorization` block live in the global account, which KEDA's triggers name.
    expect(/^\s*accounts\s*[:={]/m.test(conf), 'nats.conf defines accounts: the KEDA triggers must name the account instead of $G').toBe(false);
  });
});

describe('addresses in the copied configs', () => {
  it('name Services of the render and ports those Services have', () => {
    const services = new Map(
      rendered.k8s.filter(isCoreService).map((service) => [service.metadata.name, ((service.spec as { ports?: { port: number }[] }).ports ?? []).map((port) => port.port)]),
    );
    const problems: string[] = [];
    for (const { copy } of configCopies()) {
      const text = readFileSync(copy, 'utf8');
      for (const match of text.matchAll(/(?:\/\/|[\s"'=])([a-z][a-z0-9-]*):(\d{2,5})\b/g)) {
        const [host, port] = [match[1]!, Number(match[2])];
        if (!services.has(host)) continue;
        if (!services.get(host)!.includes(port)) problems.push(`${copy}: ${host}:${port}, but Service ${host} has ports ${services.get(host)!.join(', ')}`);
      }
    }
    expect(problems).toEqual([]);
  });
});
