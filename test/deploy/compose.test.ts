// docker-compose.yml, offline (no Docker engine here): valid against the Compose specification,
// the same processes, commands, environment and ports as the local runner (`npm start`), the
// start-up order and restart policies, NATS users and passwords wired to configs/nats/nats.conf,
// and every file, bundle and image it names really there.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { toLocalStack, type ProcessSpec } from '../../scripts/local-stack';
import { toNatsUsers } from '../../shared/nats-permissions';
import { FUNCTIONS, NATS_SERVER_MEMORY_LIMIT } from '../../shared/topology';
import {
  APP_IMAGE,
  COMPOSE_HOSTS,
  findComposeDrift,
  isAppService,
  loadCompose,
  toEnvironment,
  withDefaults,
  EXAMPLE_IMAGES,
  type ComposeFile,
  type ComposeService,
} from './compose-drift';
import { parseTaskRegistry } from '../../shared/task-registry';
import { readImagePlan } from './image-layout';
import { schemaFile } from './schema-files';

const COMPOSE_FILE = resolve('docker-compose.yml');
const SCHEMA_FILE = schemaFile('compose', 'compose-spec.json');
const NATS_CONF = resolve('configs/nats/nats.conf');

const compose = loadCompose(COMPOSE_FILE);
const specs = toLocalStack({ distDir: '/app/dist', ...COMPOSE_HOSTS });
const copy = (): ComposeFile => structuredClone(compose);
const service = (file: ComposeFile, name: string): ComposeService => {
  const found = file.services[name];
  if (!found) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
};
const appServices = Object.entries(compose.services).filter(([, s]) => isAppService(s));
const dependsOn = (s: ComposeService): Record<string, { condition: string }> =>
  Array.isArray(s.depends_on) ? Object.fromEntries(s.depends_on.map((n) => [n, { condition: 'service_started' }])) : (s.depends_on ?? {});
const volumeTarget = (volume: string | { target: string }) => (typeof volume === 'string' ? volume.split(':')[1] : volume.target);
const bindMounts = (s: ComposeService) =>
  (s.volumes ?? [])
    .map((v) => (typeof v === 'string' ? { source: v.split(':')[0]!, target: v.split(':')[1]! } : { source: v.source ?? '', target: v.target }))
    .filter((m) => m.source.startsWith('./') || m.source.startsWith('/'));

function validator() {
  const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as Record<string, unknown>;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  return ajv.compile(schema);
}

describe('docker-compose.yml against the Compose specification', () => {
  const validate = validator();

  it('is valid', () => {
    const valid = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it('rejects a misspelled service key and an unknown depends_on condition', () => {
    const bad = copy();
    const worker = service(bad, 'worker');
    worker.commnd = worker.command;
    delete worker.command;
    service(bad, 'worker-source').depends_on = { worker: { condition: 'service_ready' } };
    expect(validate(bad)).toBe(false);
    const messages = (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
    expect(messages.some((m) => m.startsWith('/services/worker ') && m.includes('"additionalProperty":"commnd"'))).toBe(true);
    expect(messages.some((m) => m.startsWith('/services/worker-source/depends_on/worker/condition'))).toBe(true);
  });
});

describe('docker-compose.yml and the local runner run the same processes', () => {
  it('has one service per local-stack process, with its command, environment and port', () => {
    expect(findComposeDrift(compose, specs)).toEqual([]);
    expect(appServices.map(([name]) => name).sort()).toEqual(specs.map((s) => s.name).sort());
  });

  it('names a missing stage, a changed bundle and an extra application service', () => {
    const bad = copy();
    delete bad.services['worker-source'];
    service(bad, 'audit').command = ['node', '--require', '/app/dist/telemetry.cjs', '/app/dist/functions/worker.cjs'];
    bad.services['worker-2'] = structuredClone(service(bad, 'worker'));
    expect(findComposeDrift(bad, specs)).toEqual(
      expect.arrayContaining([
        'worker-source: no compose service of that name',
        expect.stringMatching(/^audit: command is .*functions\/worker\.cjs.*, the local stack runs .*functions\/audit\.cjs/),
        `worker-2: runs ${APP_IMAGE} but is no process of the local stack`,
      ]),
    );
  });

  it('names a source pointed at another stage, consumers or sink', () => {
    const bad = copy();
    (service(bad, 'worker-source').environment as Record<string, string>).TM_SOURCE_FUNCTION = 'audit';
    // Subjects and consumers come from shared/contract.ts inside the bundles; compose could only
    // change them through an override, which the local stack does not have.
    (service(bad, 'scheduler-source').environment as Record<string, string>).TM_SOURCE_CONSUMERS = 'worker-high';
    (service(bad, 'audit-source').environment as Record<string, string>).K_SINK = 'http://deadletter:8107/';
    expect(findComposeDrift(bad, specs)).toEqual(
      expect.arrayContaining([
        'worker-source: TM_SOURCE_FUNCTION is "audit", expected "worker"',
        'scheduler-source: TM_SOURCE_CONSUMERS is set in compose but not by the local stack',
        'audit-source: K_SINK is "http://deadletter:8107/", expected "http://audit:8106/"',
      ]),
    );
  });

  it('names a port that differs from the topology and a variable that is missing', () => {
    const bad = copy();
    (service(bad, 'ingest').environment as Record<string, string>).PORT = '8111';
    service(bad, 'notifier-source').expose = ['9999'];
    delete (service(bad, 'scheduler').environment as Record<string, string>).OTEL_SERVICE_NAME;
    expect(findComposeDrift(bad, specs)).toEqual(
      expect.arrayContaining([
        'ingest: PORT is "8111", expected "8101"',
        'ingest: PORT is 8111, the topology says 8101',
        'notifier-source: exposes ["9999"], the topology says ["9105"]',
        'scheduler: OTEL_SERVICE_NAME is missing (the local stack sets OTEL_SERVICE_NAME=scheduler)',
      ]),
    );
  });

  it('fails when the local stack gains a process or a variable that compose lacks', () => {
    const archiver: ProcessSpec = {
      name: 'archiver',
      args: ['--require', '/app/dist/telemetry.cjs', '/app/dist/functions/archiver.cjs'],
      env: { NATS_URL: COMPOSE_HOSTS.natsUrl, PORT: '8108' },
    };
    const grown = specs.map((spec) => (spec.name === 'worker' ? { ...spec, env: { ...spec.env, TM_WORKER_SLOTS: '4' } } : spec));
    expect(findComposeDrift(compose, [...grown, archiver], { ...portsOf(specs), archiver: 8108 })).toEqual([
      'worker: TM_WORKER_SLOTS is missing (the local stack sets TM_WORKER_SLOTS=4)',
      'archiver: no compose service of that name',
    ]);
  });
});

function portsOf(list: readonly ProcessSpec[]): Record<string, number> {
  return Object.fromEntries(list.filter((s) => s.env.PORT).map((s) => [s.name, Number(s.env.PORT)]));
}

describe('start-up order, health and restarts', () => {
  it('runs setup once (restarted only on failure) after NATS is healthy, from the image it builds', () => {
    const setup = service(compose, 'setup');
    expect(setup.restart).toBe('on-failure');
    expect(dependsOn(setup)).toEqual({ nats: { condition: 'service_healthy' } });
    // NODE_IMAGE: the Dockerfile's own default unless the environment names another image.
    expect(setup.build).toEqual({ context: '.', dockerfile: 'Dockerfile', args: { NODE_IMAGE: `\${NODE_IMAGE:-${readImagePlan().buildStage.from}}` } });
    expect(setup.image).toBe(APP_IMAGE);
    expect(specs.find((s) => s.name === 'setup')?.oneShot).toBe(true);
    // One build for all: parallel builds of one tag can collide, and the others never pull it.
    expect(appServices.filter(([, s]) => s.build !== undefined).map(([name]) => name)).toEqual(['setup']);
    for (const [name, s] of appServices.filter(([name]) => name !== 'setup')) expect(s.pull_policy, name).toBe('never');
  });

  it('restarts every long-running application process unless stopped', () => {
    for (const [name, s] of appServices.filter(([name]) => name !== 'setup')) {
      expect(s.restart, name).toBe('unless-stopped');
    }
  });

  it('starts everything that uses NATS after setup has succeeded, and stages after Redis is healthy', () => {
    for (const [name, s] of appServices.filter(([name]) => name !== 'setup')) {
      const env = toEnvironment(s);
      const deps = dependsOn(s);
      if (env.NATS_USER) expect(deps.setup?.condition, name).toBe('service_completed_successfully');
      if (FUNCTIONS.some((fn) => fn.name === name && fn.consumers.length > 0) || name === 'gateway') {
        expect(deps.redis?.condition, name).toBe('service_healthy');
      }
    }
  });

  it('starts a source after its function is healthy, ingest after the enricher, the dashboard after the gateway, Envoy after both', () => {
    for (const [name, s] of appServices) {
      const fn = toEnvironment(s).TM_SOURCE_FUNCTION;
      if (fn) expect(dependsOn(s)[fn]?.condition, name).toBe('service_healthy');
    }
    expect(dependsOn(service(compose, 'ingest')).enricher?.condition).toBe('service_healthy');
    expect(dependsOn(service(compose, 'envoy')).gateway?.condition).toBe('service_healthy');
    expect(dependsOn(service(compose, 'envoy')).dashboard?.condition).toBe('service_healthy');
    expect(dependsOn(service(compose, 'dashboard')).gateway?.condition).toBe('service_healthy');
  });

  it('waits only on services that exist, and for health only on services with a healthcheck', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      for (const [target, { condition }] of Object.entries(dependsOn(s))) {
        const dependency = compose.services[target];
        expect(dependency, `${name} -> ${target}`).toBeDefined();
        if (condition === 'service_healthy') expect(dependency?.healthcheck?.test, `${name} -> ${target}`).toBeDefined();
        if (condition === 'service_completed_successfully') expect(target, name).toBe('setup');
      }
    }
  });

  it('probes functions on /health/readiness, sources on /healthz and the gateway with grpc.health.v1', () => {
    const probe = (name: string) => (service(compose, name).healthcheck?.test ?? []) as string[];
    for (const fn of FUNCTIONS) {
      expect(probe(fn.name).join(' '), fn.name).toContain('/health/readiness');
      if (fn.consumers.length > 0) expect(probe(`${fn.name}-source`).join(' ')).toContain('/healthz');
    }
    expect(probe('gateway').join(' ')).toContain('/grpc.health.v1.Health/Check');
    expect(probe('dashboard').join(' ')).toContain('/health/readiness');
    // Every probe runs in the image as it is: bash (Essential in Debian) or Node, no curl or wget.
    for (const [name] of appServices.filter(([name]) => name !== 'setup')) {
      expect([['CMD', 'bash', '-c'], ['CMD', 'node', '-e']], name).toContainEqual(probe(name).slice(0, 3));
    }
  });
});

describe('NATS, Redis and the environment from one place', () => {
  const nats = service(compose, 'nats');
  const natsEnv = toEnvironment(nats);
  const users = toNatsUsers();

  it('gives every NATS user of the topology its own credentials, and no one else', () => {
    const withUser = appServices.filter(([, s]) => toEnvironment(s).NATS_USER !== undefined);
    expect(withUser.map(([name]) => name).sort()).toEqual(users.map((u) => u.user).sort());
    for (const [name, s] of withUser) expect(toEnvironment(s).NATS_USER, name).toBe(name);
  });

  it('feeds each password to the NATS server and to its process from the same variable', () => {
    for (const user of users) {
      const password = toEnvironment(service(compose, user.user)).NATS_PASSWORD;
      expect(password, user.user).toBe(natsEnv[user.passwordVariable]);
      expect(password, user.user).toMatch(new RegExp(`^\\$\\{${user.passwordVariable}:-[^}]+\\}$`));
    }
    const { GOMEMLIMIT: _limit, ...passwords } = natsEnv;
    expect(Object.keys(passwords).sort()).toEqual(users.map((u) => u.passwordVariable).sort());
  });

  it('gives the NATS server the Go heap soft limit the local stack uses', () => {
    expect(natsEnv.GOMEMLIMIT).toBe(NATS_SERVER_MEMORY_LIMIT);
  });

  it('runs nats-server with configs/nats/nats.conf and keeps its JetStream store on a volume', () => {
    const conf = readFileSync(NATS_CONF, 'utf8');
    const mount = bindMounts(nats).find((m) => m.source === './configs/nats/nats.conf');
    expect(mount).toBeDefined();
    expect(nats.command).toEqual(['-c', mount!.target]);
    for (const user of users) expect(conf).toContain(`password: $${user.passwordVariable}`);
    const storeDir = /store_dir:\s*"?([^\s"]+)/.exec(conf)?.[1];
    expect(storeDir).toBeDefined();
    const named = (nats.volumes ?? []).map(volumeTarget).filter((target) => target && storeDir!.startsWith(target));
    expect(named.length).toBeGreaterThan(0);
    expect(/^port:\s*4222$/m.test(conf) && COMPOSE_HOSTS.natsUrl.endsWith(':4222')).toBe(true);
    expect(/http_port:\s*8222/.test(conf)).toBe(true);
  });

  it('runs Redis with AOF every second, no eviction and a volume', () => {
    const redis = service(compose, 'redis');
    expect((redis.command as string[]).join(' ')).toContain('--appendonly yes --appendfsync everysec --maxmemory-policy noeviction');
    expect((redis.volumes ?? []).map(volumeTarget)).toContain('/data');
  });

  it('sends every process to the same NATS, Redis and OpenTelemetry Collector (the dashboard to the gateway only)', () => {
    const collector = parse(readFileSync(resolve('configs/otel-collector/config.yaml'), 'utf8'));
    const httpEndpoint = String(collector.receivers.otlp.protocols.http.endpoint);
    for (const [name, s] of appServices) {
      const env = toEnvironment(s);
      if (name === 'dashboard') {
        expect([env.NATS_URL, env.REDIS_URL, env.NATS_USER]).toEqual([undefined, undefined, undefined]);
        expect(env.TM_GATEWAY_ADDRESS).toBe('gateway:50051');
      } else {
        expect(env.NATS_URL, name).toBe(COMPOSE_HOSTS.natsUrl);
        expect(env.REDIS_URL, name).toBe(COMPOSE_HOSTS.redisUrl);
      }
      expect(env.OTEL_EXPORTER_OTLP_ENDPOINT, name).toBe(`http://otel-collector:${httpEndpoint.split(':').at(-1)}`);
    }
    expect(compose.services['otel-collector']).toBeDefined();
  });
});

describe('task types of your own', () => {
  it('the gateway, ingest and the worker read the same registry, mounted read-only from configs/task-types/', () => {
    for (const name of ['gateway', 'ingest', 'worker']) {
      const s = service(compose, name);
      expect(toEnvironment(s).TM_TASK_TYPES_FILE, name).toBe('/etc/taskmanager/task-types.yaml');
      expect(s.volumes, name).toContain('./configs/task-types/compose.yaml:/etc/taskmanager/task-types.yaml:ro');
    }
    // No other process reads it.
    for (const [name, s] of appServices.filter(([name]) => !['gateway', 'ingest', 'worker'].includes(name))) {
      expect(toEnvironment(s).TM_TASK_TYPES_FILE, name).toBeUndefined();
    }
  });

  it('the registry is valid, and its HTTP handler is the example service compose builds from examples/handlers/python', () => {
    const parsed = parseTaskRegistry(readFileSync(resolve('configs/task-types/compose.yaml'), 'utf8'), resolve('configs/task-types'));
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
    const handler = service(compose, 'word-stats');
    expect(handler.build).toMatchObject({ context: './examples/handlers/python' });
    expect(handler.image).toBe(EXAMPLE_IMAGES[0]);
    expect(handler.healthcheck?.test).toBeDefined();
    expect(handler.ports).toBeUndefined();
    const urls = parsed.types.flatMap((type) => (type.handler.kind === 'http' ? [new URL(type.handler.url)] : []));
    expect(urls.map((url) => `${url.hostname}:${url.port}`)).toEqual([`word-stats:${String(handler.expose?.[0])}`]);
  });
});

describe('nothing is published beyond this machine', () => {
  it('binds every published port to 127.0.0.1 (no keys, development passwords, anonymous Grafana)', () => {
    expect(findUnboundPorts(compose)).toEqual([]);
    expect(Object.values(compose.services).flatMap((s) => s.ports ?? []).length).toBeGreaterThan(0);
  });

  it('names a port published on every interface, in short or long syntax', () => {
    const bad = copy();
    service(bad, 'envoy').ports = ['50051:50051', '0.0.0.0:9901:9901', '127.0.0.1:9902:9902'];
    service(bad, 'grafana').ports = [{ target: 3000, published: '3000' }, { target: 3001, published: '3001', host_ip: '127.0.0.1' }];
    service(bad, 'redis').ports = ['6379'];
    expect(findUnboundPorts(bad)).toEqual([
      'redis: "6379" is not bound to 127.0.0.1 (publish as "127.0.0.1:host:container")',
      'envoy: "50051:50051" is not bound to 127.0.0.1 (publish as "127.0.0.1:host:container")',
      'envoy: "0.0.0.0:9901:9901" is not bound to 127.0.0.1 (publish as "127.0.0.1:host:container")',
      'grafana: {"target":3000,"published":"3000"} is not bound to 127.0.0.1 (publish as "127.0.0.1:host:container")',
    ]);
  });
});

/** Published ports not bound to 127.0.0.1: `ip:host:container` strings or `host_ip` in the long syntax. */
function findUnboundPorts(file: ComposeFile): string[] {
  const problems: string[] = [];
  for (const [name, s] of Object.entries(file.services)) {
    for (const port of s.ports ?? []) {
      const hostIp = typeof port === 'string' || typeof port === 'number' ? /^(\d+\.\d+\.\d+\.\d+):/.exec(String(port))?.[1] : (port as { host_ip?: string }).host_ip;
      if (hostIp !== '127.0.0.1') problems.push(`${name}: ${JSON.stringify(port)} is not bound to 127.0.0.1 (publish as "127.0.0.1:host:container")`);
    }
  }
  return problems;
}

describe('everything docker-compose.yml names exists', () => {
  it('mounts only files and folders of this repository (and the Docker log folder)', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      for (const mount of bindMounts(s)) {
        if (mount.source.startsWith('/')) expect(mount.source, name).toBe('/var/lib/docker/containers');
        else expect(existsSync(resolve(mount.source)), `${name}: ${mount.source}`).toBe(true);
      }
    }
  });

  it('starts each application process with a bundle that the build produces', () => {
    if (!existsSync(resolve('dist/telemetry.cjs'))) throw new Error('dist/ is missing: run `npm run build` first');
    for (const [name, s] of appServices) {
      const command = s.command as string[];
      expect(command[0], name).toBe('node');
      for (const path of command.filter((arg) => arg.startsWith('/app/'))) {
        expect(existsSync(join(resolve('dist'), path.slice('/app/dist/'.length))), `${name}: ${path}`).toBe(true);
      }
    }
  });

  it('names the project in .env, not with a top-level name: (docker-compose 1.29 refuses one)', () => {
    expect(Object.keys(compose)).not.toContain('name');
    const dotEnv = readFileSync(resolve('.env'), 'utf8');
    expect(dotEnv).toMatch(/^COMPOSE_PROJECT_NAME=taskmanager$/m);
    // Only settings: a password line in the shipped file would be a default secret.
    expect(dotEnv.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#'))).toEqual(['COMPOSE_PROJECT_NAME=taskmanager']);
  });

  it('pins every third-party image to a version', () => {
    for (const [name, s] of Object.entries(compose.services).filter(([, s]) => !isAppService(s) && !EXAMPLE_IMAGES.includes(String(s.image)))) {
      // An image may be replaced through the environment (`${NATS_IMAGE:-nats:2.10-alpine}`):
      // its default is the one pinned.
      const image = withDefaults(String(s.image));
      expect(image, name).toMatch(/^[a-z0-9./-]+:[A-Za-z0-9._-]+$/);
      expect(image, name).not.toMatch(/:latest$/);
    }
  });

  it('publishes Envoy on 50051 (gRPC) and 8090 (the dashboard), the gateway alone on 50052, and Grafana on 3000 with the Tempo and Loki datasources', () => {
    expect(service(compose, 'envoy').ports).toEqual(['127.0.0.1:50051:50051', '127.0.0.1:8090:8090']);
    expect(bindMounts(service(compose, 'envoy'))).toEqual([{ source: './configs/envoy/envoy.yaml', target: '/etc/envoy/envoy.yaml' }]);
    expect(service(compose, 'envoy').command).toEqual(['envoy', '-c', '/etc/envoy/envoy.yaml']);
    expect(service(compose, 'grafana').ports).toEqual(['127.0.0.1:3000:3000']);
    // Plain gRPC to the gateway itself, for clients where Envoy is not running (test/containers/).
    expect(service(compose, 'gateway').ports).toEqual(['127.0.0.1:${TM_GATEWAY_HOST_PORT:-50052}:50051']);
    expect(service(compose, 'dashboard').ports).toBeUndefined(); // only through Envoy
  });
});
