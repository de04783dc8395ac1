// The image without Docker: /app laid out as the Dockerfile builds it (dist/ and the pruned
// node_modules), and the processes started with docker-compose.yml's own commands, environment
// and credentials against a real nats-server running configs/nats/nats.conf and a real Redis.
// Each one must pass the healthcheck compose gives it, and the healthchecks must fail when the
// process is not there or not serving.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nonLoopbackAddresses, tryConnect } from '../helpers/listeners';
import { getFreePort, waitFor } from '../helpers/ports';
import { startConfiguredNatsServer, startRedisServer, type TestServer } from '../helpers/servers';
import { loadCompose, toEnvironment, type ComposeService } from './compose-drift';
import { createImageLayout, readImagePlan, toImageEnv, type ImageLayout } from './image-layout';

const compose = loadCompose(resolve('docker-compose.yml'));
const RUNNING = ['enricher', 'worker', 'worker-source', 'gateway', 'dashboard'] as const;
/** What the image's ENV gives every container (NODE_ENV, HOST=0.0.0.0). */
const IMAGE_ENV = toImageEnv(readImagePlan().finalStage);

/** Compose's `${VAR:-default}` with nothing set in the environment: the default. */
function interpolate(value: string): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::-([^}]*))?\}/g, (_, name: string, fallback?: string) => {
    if (fallback === undefined) throw new Error(`${name} has no default in docker-compose.yml`);
    return fallback;
  });
}

function service(name: string): ComposeService {
  const found = compose.services[name];
  if (!found) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
}

/** nats-server 2.9 (Debian's) refuses `sync_interval`, which the 2.10 image of compose knows. */
function runnableNatsConf(): string {
  const text = readFileSync(resolve('configs/nats/nats.conf'), 'utf8');
  const version = /v(\d+)\.(\d+)/.exec(execFileSync('nats-server', ['--version'], { encoding: 'utf8' }));
  const atLeast210 = version ? Number(version[1]) > 2 || Number(version[2]) >= 10 : false;
  return atLeast210 ? text : text.replace(/^\s*sync_interval:.*$/m, '');
}

/** The repository path that a compose bind mount puts at `target` in the container. */
function boundSource(composeService: ComposeService, target: string): string {
  for (const volume of composeService.volumes ?? []) {
    const [source, mountedAt] = typeof volume === 'string' ? volume.split(':') : [volume.source, volume.target];
    if (mountedAt === target && source) return resolve(source);
  }
  throw new Error(`nothing is mounted at ${target}`);
}

describe('the image layout runs the compose services and passes their healthchecks', () => {
  let layout: ImageLayout;
  let nats: TestServer;
  let redis: TestServer;
  const ports: Record<string, number> = {};
  const children: ChildProcess[] = [];
  const output: string[] = [];

  /** The service's compose environment, pointed at this test's servers and ports. */
  function environment(name: string): Record<string, string> {
    const env = Object.fromEntries(Object.entries(toEnvironment(service(name))).map(([k, v]) => [k, interpolate(v)]));
    env.NATS_URL = nats.url;
    env.REDIS_URL = redis.url;
    delete env.OTEL_EXPORTER_OTLP_ENDPOINT; // no Collector here
    if (ports[name]) env.PORT = String(ports[name]);
    // A file the container gets from a bind mount: the repository's file behind the mount.
    if (env.TM_TASK_TYPES_FILE) env.TM_TASK_TYPES_FILE = boundSource(service(name), env.TM_TASK_TYPES_FILE);
    if (env.TM_GATEWAY_ADDRESS) env.TM_GATEWAY_ADDRESS = `127.0.0.1:${ports.gateway}`;
    if (env.K_SINK) {
      const sink = new URL(env.K_SINK);
      env.K_SINK = `http://127.0.0.1:${ports[sink.hostname]}${sink.pathname}`;
    }
    return { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...IMAGE_ENV, ...env };
  }

  /** `node <args>` of the service's compose command, with /app being the layout. */
  function start(name: string): ChildProcess {
    const [node, ...args] = service(name).command as string[];
    expect(node).toBe('node');
    const child = spawn(process.execPath, args.map((arg) => arg.replace(/^\/app\//, `${layout.appDir}/`)), {
      cwd: layout.appDir,
      env: environment(name),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (chunk: Buffer) => output.push(`[${name}] ${chunk.toString()}`));
    child.stderr?.on('data', (chunk: Buffer) => output.push(`[${name}] ${chunk.toString()}`));
    children.push(child);
    return child;
  }

  /**
   * Runs the service's compose healthcheck in the layout, as Docker runs it (compose has turned
   * `$$` into `$` by then): `CMD bash -c ...` for the HTTP probes, `CMD node -e ...` for the
   * gateway's gRPC one. Its exit code.
   */
  function probe(name: string, port: number): Promise<number> {
    const [kind, program, ...args] = service(name).healthcheck?.test as string[];
    expect(kind).toBe('CMD');
    expect(['bash', 'node']).toContain(program);
    const command = program === 'node' ? process.execPath : 'bash';
    const argv = args.map((arg) => arg.replaceAll('$$', '$'));
    return new Promise((done) => {
      execFile(command, argv, { cwd: layout.appDir, env: { PATH: process.env.PATH ?? '', PORT: String(port) }, timeout: 10_000 }, (error) =>
        done(error ? (typeof error.code === 'number' ? error.code : 1) : 0),
      );
    });
  }

  beforeAll(async () => {
    layout = createImageLayout();
    const passwords = Object.fromEntries(Object.entries(toEnvironment(service('nats'))).map(([k, v]) => [k, interpolate(v)]));
    nats = await startConfiguredNatsServer({ configText: runnableNatsConf(), env: passwords });
    redis = await startRedisServer();
    for (const name of RUNNING) ports[name] = await getFreePort();
  });

  afterAll(async () => {
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGKILL');
          }),
      ),
    );
    await nats?.stop();
    await redis?.stop();
    layout?.cleanup();
  });

  it('runs setup to completion as the NATS user setup', async () => {
    const setup = start('setup');
    const code = await new Promise<number | null>((done) => setup.once('exit', done));
    expect(code, output.join('')).toBe(0);
  });

  it('starts the enricher, a stage, its source, the gateway and the dashboard, each healthy by its compose probe', async () => {
    for (const name of RUNNING) start(name);
    for (const name of RUNNING) {
      await waitFor(`${name} healthy`, async () => (await probe(name, ports[name]!)) === 0, 90_000, 250).catch((error: Error) => {
        throw new Error(`${error.message}\n${output.join('')}`);
      });
    }
    expect(children.filter((c) => c.exitCode !== null).length).toBe(1); // only setup has ended
  }, 180_000);

  it('serves the dashboard page from the image, and its API reaches the gateway with the pruned node_modules', async () => {
    const page = await fetch(`http://127.0.0.1:${ports.dashboard}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect((await fetch(`http://127.0.0.1:${ports.dashboard}/app.js`)).status).toBe(200);
    const types = await fetch(`http://127.0.0.1:${ports.dashboard}/api/types`);
    expect(types.status, output.join('')).toBe(200);
  });

  it('listens on every interface as the image runs it (HOST=0.0.0.0), not on loopback only', async (ctx) => {
    const addresses = nonLoopbackAddresses().filter((address) => address.family === 'IPv4');
    if (addresses.length === 0) ctx.skip('this machine has no non-loopback IPv4 address to reach the processes through');
    for (const name of RUNNING) {
      for (const { host } of addresses) expect(await tryConnect(host, ports[name]!), `${name} via ${host}`).toBe('connected');
    }
  });

  it('fails every probe when nothing listens', async () => {
    const port = await getFreePort();
    for (const name of ['ingest', 'ingest-source', 'gateway']) expect(await probe(name, port), name).toBe(1);
  });

  it('fails the function and source probes on a 503, and the gateway probe on NOT_SERVING', async () => {
    const unavailable: Server = createServer((_req, res) => {
      res.writeHead(503);
      res.end();
    });
    await new Promise<void>((done) => unavailable.listen(0, '127.0.0.1', done));
    const httpPort = (unavailable.address() as { port: number }).port;
    expect(await probe('scheduler', httpPort)).toBe(1);
    expect(await probe('scheduler-source', httpPort)).toBe(1);
    await new Promise((done) => unavailable.close(done));

    const grpc = await import('@grpc/grpc-js');
    const { HealthImplementation } = await import('grpc-health-check');
    const server = new grpc.Server();
    const health = new HealthImplementation({ '': 'NOT_SERVING' });
    health.addToServer(server);
    const grpcPort = await new Promise<number>((done, fail) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => (error ? fail(error) : done(port))),
    );
    try {
      expect(await probe('gateway', grpcPort)).toBe(1);
      health.setStatus('', 'SERVING');
      expect(await probe('gateway', grpcPort)).toBe(0);
    } finally {
      server.forceShutdown();
    }
  });

  it('lays out /app with the bundles compose names', () => {
    for (const name of RUNNING) {
      const bundle = (service(name).command as string[]).at(-1)!;
      expect(() => readFileSync(join(layout.appDir, bundle.replace(/^\/app\//, '')))).not.toThrow();
    }
  });
});
