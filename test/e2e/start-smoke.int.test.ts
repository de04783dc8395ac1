// `npm start` as a user runs it (the npm script itself, so a wrong script name fails here): it starts its own Redis and NATS from PATH when none answer,
// the demo completes against it, and Ctrl-C (SIGINT to the whole process group, as a terminal
// sends it) stops everything, leaving no process behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FUNCTIONS, GATEWAY_PORT } from '../../shared/topology';
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
  const base = [GATEWAY_PORT, ...FUNCTIONS.flatMap((fn) => [fn.port, fn.sourcePort].filter(Boolean))];
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

describe('npm start', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tm-start-'));
  let start: ChildProcess | undefined;

  afterAll(() => {
    if (start?.pid && isAlive(start.pid)) process.kill(-start.pid, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts the stack, runs the demo, and Ctrl-C leaves no process behind', async () => {
    const offset = await findPortOffset();
    const env = {
      ...process.env,
      TM_REDIS_PORT: String(await getFreePort()),
      TM_NATS_PORT: String(await getFreePort()),
      TM_DATA_DIR: dataDir,
      TM_PORT_OFFSET: String(offset),
      TM_RETRY_DELAYS_MS: '100,200,300,400,500',
      LOG_LEVEL: 'warn',
    };
    // Exactly what the README says: `npm start` (it rebuilds dist/ first).
    const proc = spawn('npm', ['start'], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    start = proc;
    let output = '';
    proc.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    proc.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
      proc.once('exit', (code, signal) => done({ code, signal })),
    );

    await waitFor('the stack to say it is up', () => output.includes('Taskmanager is up'), 170_000, 100);
    expect(output).toContain('started redis-server');
    expect(output).toContain('started nats-server');

    const demo = await run([resolve('bin/tm.js'), 'demo', '--address', `127.0.0.1:${GATEWAY_PORT + offset}`], env);
    expect(demo.output).toMatch(/SUCCEEDED/);
    expect(demo.code).toBe(0);

    const pids = [...output.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
    expect(pids.length).toBeGreaterThanOrEqual(FUNCTIONS.length + 3);
    process.kill(-proc.pid!, 'SIGINT');
    // npm itself also gets the SIGINT and ends by it; the stack's own exit is the clean one.
    const { code, signal } = await exited;
    expect(code === 0 || code === 130 || signal === 'SIGINT', `npm exited with ${code ?? signal}`).toBe(true);
    await waitFor('the stack to report a clean stop', () => output.includes('[start] stopped'), 30_000, 100);
    await waitFor('every started process to be gone', () => pids.every((pid) => !isAlive(pid)), 20_000, 100);
    expect(output).not.toMatch(/restarting in/);
  }, 300_000);
});
