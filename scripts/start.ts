// `npm start`: the whole stack on this machine as processes (docs/design.md §7). Uses Redis and
// NATS on localhost when they answer, otherwise starts redis-server and nats-server -js from PATH
// with data under .data/. Ctrl-C stops everything.
//
// Environment (all optional): TM_REDIS_PORT (6379), TM_NATS_PORT (4222), TM_DATA_DIR (.data),
// TM_PORT_OFFSET (added to every port of the topology, e.g. to run two stacks side by side),
// HOST (the address every process listens on, 127.0.0.1), LOG_FORMAT (json or pretty; default:
// pretty on a terminal, json otherwise; NO_COLOR turns colours off), plus anything the
// components read (LOG_LEVEL, TM_API_KEYS, TM_RETRY_DELAYS_MS, ...).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { createEnvReader, readListenHost } from '../shared/config';
import { DASHBOARD_PORT, FUNCTIONS, GATEWAY_METRICS_PORT, GATEWAY_PORT, LOCAL_NATS_SERVER_ENV } from '../shared/topology';
import { isAnyAddress, sourceName, toDialHost, toLocalStack, toNodeOptions } from './local-stack';
import { chooseLogFormat, formatLogLine } from './log-format';
import { isLoopback, toBanner } from './start-banner';
import { createSupervisor } from './supervisor';

const env = process.env;
const redisPort = Number(env.TM_REDIS_PORT ?? 6379);
const natsPort = Number(env.TM_NATS_PORT ?? 4222);
const offset = Number(env.TM_PORT_OFFSET ?? 0);
const dataDir = resolve(env.TM_DATA_DIR ?? '.data');
const distDir = resolve(__dirname);

const log = (line: string) => process.stdout.write(`${line}\n`);

function isOpen(port: number, address = '127.0.0.1'): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect(port, address.replace(/^\[(.*)\]$/, '$1'));
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

async function waitOpen(port: number, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await isOpen(port))) {
    if (Date.now() > deadline) throw new Error(`${what} did not open port ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function hasBinary(binary: string): boolean {
  return !spawnSync(binary, ['--version']).error;
}

/** Reuses a server that answers on `port`, or starts one from PATH. */
async function ensureServer(
  what: string,
  binary: string,
  pkg: string,
  port: number,
  args: string[],
  env: Record<string, string> = {},
): Promise<ChildProcess | undefined> {
  if (await isOpen(port)) {
    log(`[start] using the ${what} already running on 127.0.0.1:${port}`);
    return undefined;
  }
  if (!hasBinary(binary)) {
    throw new Error(`${binary} is not installed: install the "${pkg}" package (apt-get install ${pkg}, brew install ${pkg.replace('-server', '')})`);
  }
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } });
  log(`[start] started ${binary} on 127.0.0.1:${port} (pid ${child.pid}, data in ${dataDir})`);
  await waitOpen(port, binary);
  return child;
}

/** HOST, validated as every component validates it: a bad value stops here, not in 16 restart loops. */
function readHost(): string {
  const reader = createEnvReader(env);
  const host = readListenHost(reader);
  reader.finish();
  return host;
}

/** Every function and the dashboard answer their readiness probes and the gateway accepts connections. */
async function waitReady(ports: Record<string, number>, dialHost: string): Promise<void> {
  // Generous: seventeen processes start at once, and a busy two-core machine is slow to load them.
  const deadline = Date.now() + 150_000;
  const urls = [...FUNCTIONS.map((fn) => ports[fn.name]), ports.dashboard].map((port) => `http://${dialHost}:${port}/health/readiness`);
  for (;;) {
    const ready = await Promise.all(urls.map((url) => fetch(url).then((r) => r.ok, () => false)));
    if (ready.every(Boolean) && (await isOpen(ports.gateway!, dialHost))) return;
    if (Date.now() > deadline) throw new Error('the stack did not become ready within 150 s (see the logs above)');
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function main(): Promise<void> {
  const logFormat = chooseLogFormat(Boolean(process.stdout.isTTY), env);
  const host = readHost();
  // Where this script reaches the listeners: 127.0.0.1 when they are on every interface.
  const dialHost = toDialHost(host);
  const servers: ChildProcess[] = [];
  mkdirSync(join(dataDir, 'redis'), { recursive: true });
  mkdirSync(join(dataDir, 'nats'), { recursive: true });
  const redis = await ensureServer('Redis', 'redis-server', 'redis-server', redisPort, [
    '--port', String(redisPort), '--bind', '127.0.0.1', '--dir', join(dataDir, 'redis'),
    '--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction',
  ]);
  if (redis) servers.push(redis);
  const nats = await ensureServer('NATS', 'nats-server', 'nats-server', natsPort, [
    '-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', join(dataDir, 'nats'),
  ], LOCAL_NATS_SERVER_ENV);
  if (nats) servers.push(nats);

  const ports: Record<string, number> = { gateway: GATEWAY_PORT + offset, dashboard: DASHBOARD_PORT + offset };
  for (const fn of FUNCTIONS) {
    ports[fn.name] = fn.port + offset;
    if (fn.sourcePort) ports[sourceName(fn)] = fn.sourcePort + offset;
  }
  const specs = toLocalStack({
    distDir,
    natsUrl: `nats://127.0.0.1:${natsPort}`,
    redisUrl: `redis://127.0.0.1:${redisPort}`,
    host,
    ports,
    // The heap settings, and any NODE_OPTIONS given (e.g. --enable-source-maps for debugging).
    nodeOptions: toNodeOptions(env.NODE_OPTIONS),
    // One process for every source, over one NATS connection: less memory and CPU on one machine.
    hostSources: true,
    // The gateway's /metrics port (TM_METRICS=prometheus) moves with the others.
    ...(offset !== 0 ? { processEnv: { gateway: { TM_METRICS_PORT: String(GATEWAY_METRICS_PORT + offset) } } } : {}),
  });
  const supervisor = createSupervisor({ specs, log, format: (name, line) => formatLogLine(name, line, logFormat) });

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    log('[start] stopping…');
    await supervisor.stop(30_000);
    for (const server of servers) {
      // Ctrl-C reaches the whole process group: the server may have exited already.
      if (server.exitCode !== null || server.signalCode !== null) continue;
      const exited = new Promise((r) => server.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
    log('[start] stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());

  await supervisor.start();
  await waitReady(ports, dialHost);
  const gateway = specs.find((spec) => spec.name === 'gateway');
  const banner = toBanner({
    host,
    // The client's default, localhost, reaches a gateway on 127.0.0.1, ::1 or every interface.
    gatewayAddress: `${isLoopback(host) || isAnyAddress(host) ? 'localhost' : dialHost}:${ports.gateway}`,
    customAddress: offset !== 0 || !(isLoopback(host) || isAnyAddress(host)),
    gatewayEnv: { ...env, ...gateway?.env },
    dashboardUrl: `http://${isLoopback(host) || isAnyAddress(host) ? 'localhost' : dialHost}:${ports.dashboard}/`,
  });
  for (const line of banner) {
    log(`[start] ${line.alert && logFormat.color ? `\u001b[1;33m${line.text}\u001b[0m` : line.text}`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`[start] ${(error as Error).message}\n`);
  process.exit(1);
});
