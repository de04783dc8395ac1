// Cold start: each bundle spawned alone, with the command and environment the local stack gives
// it (scripts/local-stack.ts) against the bench's own nats-server and redis-server, timed from
// spawn() to ready: a function's GET /health/readiness answering 200, a source's /healthz 200
// (with its sink already up, since a source waits for it before it pulls), the gateway's
// grpc.health.v1 Check answering SERVING. Probed every 5 ms; runs one at a time, the functions'
// in rounds (each function once, then again).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { sourceName, toLocalStack, type ProcessSpec } from '../scripts/local-stack';
import { FUNCTIONS, NODE_V8_FLAGS } from '../shared/topology';
import { getFreePort } from '../test/helpers/ports';
import { startNatsServer, startRedisServer, type TestServer } from '../test/helpers/servers';
import { toProfileArgs } from './profiles';
import { withResource } from './resources';
import { BENCH_ENV } from './stack';
import { median } from './stats';

export type ColdStartOptions = { runs: number; distDir: string; profileDir: string | undefined; log: (line: string) => void };

/** Servers for the processes, and V8's compile cache directory (NODE_COMPILE_CACHE) they share:
 * empty when the phase starts, so each process's first run compiles its bundle and the runs
 * after it read the code that run saved, as a restart does or an image with a baked cache
 * (shared/compile-cache.ts). */
type Servers = { nats: TestServer; redis: TestServer; compileCacheDir: string };

/** `floor`: node itself, a bare `node:http` server with the functions' node arguments and
 * environment but no bundle, probed as a function is: the part of a cold start no code of ours
 * can remove (not judged). */
export type ColdStartKind = 'function' | 'source' | 'gateway' | 'floor';

export type ColdStartRow = {
  name: string;
  kind: ColdStartKind;
  runsMs: number[];
  medianMs: number;
  minMs: number;
  failures: number;
  firstFailure?: string;
};

const PROBE_INTERVAL_MS = 5;
const READY_TIMEOUT_MS = 30_000;
/** The source measured (every source is the same bundle), with its function as sink. */
const SOURCE_FUNCTION = 'worker';

/** The floor row's name, and the program it runs: answers 200 to any request on PORT. */
export const FLOOR_NAME = 'node-floor';
const FLOOR_PROGRAM = "require('node:http').createServer((req, res) => res.end()).listen(Number(process.env.PORT), '127.0.0.1')";

/** A function's command and environment with its bundle (and the telemetry preload) replaced by
 * FLOOR_PROGRAM, listening on `port`. */
export function toFloorSpec(fn: ProcessSpec, port: number): ProcessSpec {
  return { name: FLOOR_NAME, args: [...NODE_V8_FLAGS, '-e', FLOOR_PROGRAM], env: { ...fn.env, PORT: String(port) } };
}

/** Asks whether the process is ready; `close` frees what asking needed (a gRPC channel). */
type Probe = { ready(): Promise<boolean>; close(): void };

/** A process to start, and how to ask it whether it is ready. */
type Target = { name: string; kind: ColdStartKind; probe: () => Probe };

function httpOk(url: string): Probe {
  return {
    ready: () =>
      fetch(url).then(
        async (response) => {
          await response.body?.cancel();
          return response.ok;
        },
        () => false,
      ),
    close: () => undefined,
  };
}

function isPortOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

type HealthClient = grpc.Client & {
  Check(request: { service: string }, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, reply?: { status?: string }) => void): void;
};

/** The gateway is ready when its port is open and health says SERVING (it says NOT_SERVING until
 * NATS and Redis are connected). The channel opens once the port does: a channel that found the
 * port closed would wait out grpc-js's reconnect backoff. */
function grpcServing(port: number): Probe {
  const Health = grpc.makeGenericClientConstructor(healthService as unknown as grpc.ServiceDefinition, 'Health');
  let client: HealthClient | undefined;
  return {
    async ready() {
      if (!client) {
        if (!(await isPortOpen(port))) return false;
        client = new Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as HealthClient;
      }
      const open = client;
      return new Promise<boolean>((resolve) => {
        open.Check({ service: '' }, { deadline: Date.now() + 1_000 }, (error, reply) => resolve(!error && reply?.status === 'SERVING'));
      });
    },
    close: () => client?.close(),
  };
}

async function waitUntil(probe: Probe, child: ChildProcess, stderrTail: () => string): Promise<void> {
  const deadline = performance.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`exited (${child.signalCode ?? child.exitCode}) before it was ready: ${stderrTail()}`);
    }
    if (await probe.ready()) return;
    if (performance.now() >= deadline) throw new Error(`not ready within ${READY_TIMEOUT_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, PROBE_INTERVAL_MS));
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

function spawnSpec(spec: ProcessSpec, profileDir: string | undefined): { child: ChildProcess; stderrTail: () => string } {
  const child = spawn(process.execPath, [...toProfileArgs(profileDir, 'coldstart', spec.name), ...spec.args], {
    env: { ...process.env, ...spec.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2_000);
  });
  return { child, stderrTail: () => stderr.trim() };
}

/** Spawns, waits until ready, stops; returns spawn → ready in ms. */
async function timeOneStart(spec: ProcessSpec, probe: () => Probe, profileDir: string | undefined): Promise<number> {
  const started = performance.now();
  const { child, stderrTail } = spawnSpec(spec, profileDir);
  const ready = probe();
  try {
    await waitUntil(ready, child, stderrTail);
    return performance.now() - started;
  } finally {
    ready.close();
    await stopChild(child);
  }
}

async function runSetup(spec: ProcessSpec): Promise<void> {
  const { child, stderrTail } = spawnSpec(spec, undefined);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`setup failed (exit ${code}): ${stderrTail()}`);
}

/** `runs` starts of each of `targets`, taken in rounds (one start of each, then the next round),
 * so that a few seconds of a busy host slow one run of several processes, not several runs of
 * one process, whose median would then carry them. */
async function measureRounds(
  targets: readonly Target[],
  specOf: (name: string) => ProcessSpec,
  options: ColdStartOptions,
): Promise<ColdStartRow[]> {
  const tallies = targets.map(() => ({ runsMs: [] as number[], failures: 0, firstFailure: undefined as string | undefined }));
  for (let run = 0; run < options.runs; run += 1) {
    for (const [index, target] of targets.entries()) {
      const tally = tallies[index]!;
      try {
        tally.runsMs.push(await timeOneStart(specOf(target.name), target.probe, options.profileDir));
      } catch (error) {
        tally.failures += 1;
        tally.firstFailure ??= (error as Error).message;
      }
    }
  }
  return targets.map((target, index) => {
    const { runsMs, failures, firstFailure } = tallies[index]!;
    options.log(`bench: cold start: ${target.name} ${runsMs.map((ms) => ms.toFixed(0)).join(', ')} ms`);
    return {
      name: target.name,
      kind: target.kind,
      runsMs,
      medianMs: median(runsMs),
      minMs: runsMs.length > 0 ? Math.min(...runsMs) : NaN,
      failures,
      ...(firstFailure ? { firstFailure } : {}),
    };
  });
}

async function measureAll(servers: Servers, options: ColdStartOptions): Promise<ColdStartRow[]> {
  const names = ['gateway', FLOOR_NAME, ...FUNCTIONS.flatMap((fn) => (fn.sourcePort ? [fn.name, sourceName(fn)] : [fn.name]))];
  const ports: Record<string, number> = {};
  for (const name of names) ports[name] = await getFreePort();
  const specs = toLocalStack({
    distDir: options.distDir,
    natsUrl: servers.nats.url,
    redisUrl: servers.redis.url,
    host: '127.0.0.1',
    ports,
    env: { ...BENCH_ENV, NODE_COMPILE_CACHE: servers.compileCacheDir },
  });
  const specOf = (name: string) => {
    const spec = specs.find((candidate) => candidate.name === name);
    if (!spec) throw new Error(`no process ${name} in the local stack`);
    return spec;
  };
  specs.push(toFloorSpec(specOf(FUNCTIONS[0]!.name), ports[FLOOR_NAME]!));
  await runSetup(specOf('setup'));

  const readiness = (name: string) => () => httpOk(`http://127.0.0.1:${ports[name]}/health/readiness`);
  // The floor in the functions' rounds, so that a busy moment of the host weighs on it as on them.
  const rows = await measureRounds(
    [
      { name: FLOOR_NAME, kind: 'floor' as const, probe: readiness(FLOOR_NAME) },
      ...FUNCTIONS.map((fn) => ({ name: fn.name, kind: 'function' as const, probe: readiness(fn.name) })),
    ],
    specOf,
    options,
  );
  const source = `${SOURCE_FUNCTION}-source`;
  const sink = spawnSpec(specOf(SOURCE_FUNCTION), undefined);
  try {
    await waitUntil(httpOk(`http://127.0.0.1:${ports[SOURCE_FUNCTION]}/health/readiness`), sink.child, sink.stderrTail);
    rows.push(...(await measureRounds([{ name: source, kind: 'source', probe: () => httpOk(`http://127.0.0.1:${ports[source]}/healthz`) }], specOf, options)));
  } finally {
    await stopChild(sink.child);
  }
  rows.push(...(await measureRounds([{ name: 'gateway', kind: 'gateway', probe: () => grpcServing(ports.gateway!) }], specOf, options)));
  return rows;
}

export function benchColdStart(options: ColdStartOptions): Promise<ColdStartRow[]> {
  return withResource(
    async () => {
      const nats = await startNatsServer();
      try {
        return { nats, redis: await startRedisServer(), compileCacheDir: mkdtempSync(join(tmpdir(), 'tm-bench-compile-cache-')) };
      } catch (error) {
        await nats.stop();
        throw error;
      }
    },
    async (servers) => {
      await servers.nats.stop();
      await servers.redis.stop();
      rmSync(servers.compileCacheDir, { recursive: true, force: true });
    },
    (servers) => measureAll(servers, options),
  );
}
