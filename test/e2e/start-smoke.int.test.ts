// `npm start` as a user runs it (the npm script itself, so a wrong script name fails here): it starts its own Redis and NATS from PATH when none answer,
// says in its banner where it listens, where the dashboard is and that authentication is off,
// listens on 127.0.0.1 only, serves the dashboard's page, the demo completes against it, and Ctrl-C (SIGINT to the whole process group, as a terminal
// sends it) stops everything, leaving no process behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_PORT, FUNCTIONS, GATEWAY_PORT, LOCAL_NATS_SERVER_ENV } from '../../shared/topology';
import { toLocalStack } from '../../scripts/local-stack';
import { isLoopbackAddress, listenEverywhere, listeningSockets, nonLoopbackAddresses, tryConnect } from '../helpers/listeners';
import { getFreePort, waitFor } from '../helpers/ports';

function isFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });
}

/** An offset that moves every topology port onto a free one. */
async function findPortOffset(): Promise<number> {
  const base = [GATEWAY_PORT, DASHBOARD_PORT, ...FUNCTIONS.flatMap((fn) => [fn.port, fn.sourcePort].filter(Boolean))];
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const offset = 1000 + Math.floor(Math.random() * 5000);
    const free = await Promise.all(base.map((port) => isFree(port + offset)));
    if (free.every(Boolean)) return offset;
  }
  throw new Error('no free port offset found');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => done({ code, output }));
  });
}

/** The environment of the running process whose command line holds every one of `words`. */
function environmentOf(words: string[]): Record<string, string> | undefined {
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    try {
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (!words.every((word) => command.includes(word))) continue;
      const pairs = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
      return Object.fromEntries(pairs.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
    } catch {
      // The process ended while it was read.
    }
  }
  return undefined;
}

/** Every listening process of `npm start` and its port: the topology's ports moved by the offset. */
function stackPorts(offset: number): Array<{ name: string; port: number }> {
  return toLocalStack({ distDir: 'dist', natsUrl: 'nats://127.0.0.1:4222', redisUrl: 'redis://127.0.0.1:6379' })
    .filter((spec) => !spec.oneShot)
    .map((spec) => ({ name: spec.name, port: Number(spec.env.PORT) + offset }));
}

describe('npm start', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tm-start-'));
  let start: ChildProcess | undefined;
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  let output = '';
  let offset = 0;
  let env: NodeJS.ProcessEnv = {};

  beforeAll(async () => {
    offset = await findPortOffset();
    env = {
      ...process.env,
      TM_REDIS_PORT: String(await getFreePort()),
      TM_NATS_PORT: String(await getFreePort()),
      TM_DATA_DIR: dataDir,
      TM_PORT_OFFSET: String(offset),
      TM_RETRY_DELAYS_MS: '100,200,300,400,500',
      LOG_LEVEL: 'warn',
    };
    // As a developer starts it: no HOST, no API keys, no LOG_FORMAT.
    for (const name of ['HOST', 'TM_API_KEYS', 'TM_API_KEYS_FILE', 'LOG_FORMAT']) delete env[name];
    // Exactly what the README says: `npm start` (it rebuilds dist/ first).
    const proc = spawn('npm', ['start'], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    start = proc;
    proc.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    proc.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    exited = new Promise((done) => proc.once('exit', (code, signal) => done({ code, signal })));
    await waitFor('the stack to say it is up', () => output.includes('Taskmanager is up'), 170_000, 100);
  }, 200_000);

  afterAll(() => {
    if (start?.pid && isAlive(start.pid)) process.kill(-start.pid, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('says in its banner that it listens on 127.0.0.1 only and that authentication is off, with how to turn it on', () => {
    const banner = output.slice(output.indexOf('Taskmanager is up'));
    expect(banner).toMatch(/\[start\] Listeners: on 127\.0\.0\.1 only/);
    expect(banner).toMatch(/\[start\] Authentication: OFF: .*TM_API_KEYS=<tenant>:<key.*TM_API_KEYS_FILE.*TM_TOKEN/);
    expect(banner).toContain(`[start] Dashboard: http://localhost:${DASHBOARD_PORT + offset}/ (in a browser`);
  });

  it("runs its own nats-server with shared/topology.ts's Go settings (GOMEMLIMIT, GOMAXPROCS)", () => {
    const natsEnv = environmentOf(['nats-server', '-p', String(env.TM_NATS_PORT)]);
    expect(natsEnv, 'a nats-server on TM_NATS_PORT').toBeDefined();
    expect(natsEnv).toMatchObject(LOCAL_NATS_SERVER_ENV);
  });

  it('serves the dashboard at the address its banner gives, and its API reaches the gateway', async () => {
    const page = await fetch(`http://localhost:${DASHBOARD_PORT + offset}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script src="/app.js" defer></script>');
    const types = await fetch(`http://127.0.0.1:${DASHBOARD_PORT + offset}/api/types`);
    expect(types.status).toBe(200);
    expect(((await types.json()) as { types: { name: string }[] }).types.map((type) => type.name)).toContain('echo');
  });

  it('writes the processes\' own JSON lines, prefixed with their names, when its output is not a terminal', () => {
    // LOG_LEVEL=warn: the gateway's warning that authentication is off is one of the few lines.
    expect(output).toMatch(/^\[gateway\] \{"level":40,.*authentication is OFF/m);
  });

  it('listens on 127.0.0.1 only: every function, source, the gateway and the dashboard answer there and on no other address of this machine', async (ctx) => {
    const listeners = stackPorts(offset);
    expect(listeners.map((l) => l.name)).toEqual(expect.arrayContaining(['gateway', 'dashboard', 'enricher', 'worker', 'worker-source']));
    expect(listeners).toHaveLength(FUNCTIONS.length + FUNCTIONS.filter((fn) => fn.consumers.length > 0).length + 2);
    for (const { name, port } of listeners) expect(await tryConnect('127.0.0.1', port), `${name} on 127.0.0.1:${port}`).toBe('connected');

    // What the kernel lists: every one of these ports is held by a loopback socket only.
    const sockets = listeningSockets();
    const boundBeyondLoopback: string[] = [];
    for (const { name, port } of sockets ? listeners : []) {
      const bound = sockets!.filter((socket) => socket.port === port).map((socket) => socket.address);
      if (bound.length === 0) boundBeyondLoopback.push(`${name}: no listening socket on port ${port}`);
      for (const address of bound.filter((a) => !isLoopbackAddress(a))) boundBeyondLoopback.push(`${name} on ${address}:${port}`);
    }

    const addresses = nonLoopbackAddresses();
    if (addresses.length === 0) {
      expect(boundBeyondLoopback).toEqual([]);
      ctx.skip(`this machine has no non-loopback address to probe from${sockets ? ' (the /proc/net check passed)' : ''}`);
    }
    // The probe reaches a listener on every interface through each address: a refusal below is
    // the stack's binding, not a firewall.
    const control = await listenEverywhere();
    try {
      for (const { host } of addresses) expect(await tryConnect(host, control.port), `control listener via ${host}`).toBe('connected');
    } finally {
      await control.close();
    }
    const reachableFromNetwork: string[] = [];
    for (const { name, port } of listeners) {
      for (const { host } of addresses) {
        if ((await tryConnect(host, port)) === 'connected') reachableFromNetwork.push(`${name} via ${host}:${port}`);
      }
    }
    expect({ boundBeyondLoopback, reachableFromNetwork }).toEqual({ boundBeyondLoopback: [], reachableFromNetwork: [] });
  });

  it('runs the demo, and Ctrl-C leaves no process behind', async () => {
    const demo = await run([resolve('bin/tm.js'), 'demo', '--address', `127.0.0.1:${GATEWAY_PORT + offset}`], env);
    expect(demo.output).toMatch(/SUCCEEDED/);
    expect(demo.code).toBe(0);
    expect(output).toContain('started redis-server');
    expect(output).toContain('started nats-server');

    const pids = [...output.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
    expect(pids.length).toBeGreaterThanOrEqual(FUNCTIONS.length + 3);
    process.kill(-start!.pid!, 'SIGINT');
    // npm itself also gets the SIGINT and ends by it; the stack's own exit is the clean one.
    const { code, signal } = await exited;
    expect(code === 0 || code === 130 || signal === 'SIGINT', `npm exited with ${code ?? signal}`).toBe(true);
    await waitFor('the stack to report a clean stop', () => output.includes('[start] stopped'), 30_000, 100);
    await waitFor('every started process to be gone', () => pids.every((pid) => !isAlive(pid)), 20_000, 100);
    expect(output).not.toMatch(/restarting in/);
  }, 120_000);
});
