// Test launcher: spawns real nats-server (JetStream) and redis-server on free ports with
// temporary data directories, so tests never touch the developer's running servers and fault
// tests can kill and restart them.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getFreePort, waitForPort } from './ports';

export type TestServer = {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Sends a signal to the running server (SIGKILL, SIGSTOP, ...). */
  kill(signal?: NodeJS.Signals): void;
  /** Starts it again on the same port and data directory. */
  restart(): Promise<void>;
  stop(): Promise<void>;
};

function assertBinary(binary: string, packages: string): void {
  const probe = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  if (probe.error) {
    throw new Error(`${binary} is not on PATH: install the Debian/Ubuntu package(s) ${packages}`);
  }
}

async function launch(
  binary: string,
  packages: string,
  prefix: string,
  argsFor: (port: number, dataDir: string) => string[],
): Promise<TestServer> {
  assertBinary(binary, packages);
  const port = await getFreePort();
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  let child: ChildProcess | undefined;

  const start = async () => {
    const proc = spawn(binary, argsFor(port, dataDir), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    child = proc;
    const exited = new Promise<never>((_, reject) =>
      proc.once('exit', (code) => reject(new Error(`${binary} exited with ${code} on start: ${stderr}`))),
    );
    await Promise.race([waitForPort(port, 15_000), exited]);
  };

  const stopChild = async (signal: NodeJS.Signals) => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill(signal);
    await exited;
  };

  await start();
  return {
    url: '',
    port,
    dataDir,
    kill(signal = 'SIGKILL') {
      child?.kill(signal);
    },
    async restart() {
      await stopChild('SIGKILL');
      await start();
    },
    async stop() {
      child?.kill('SIGCONT');
      await stopChild('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function startNatsServer(): Promise<TestServer> {
  const server = await launch('nats-server', 'nats-server', 'tm-nats-', (port, dir) => [
    '-a',
    '127.0.0.1',
    '-p',
    String(port),
    '-js',
    '-sd',
    dir,
  ]);
  return { ...server, url: `nats://127.0.0.1:${server.port}` };
}

export async function startRedisServer(options: { appendOnly?: boolean } = {}): Promise<TestServer> {
  const server = await launch('redis-server', 'redis-server', 'tm-redis-', (port, dir) => [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    options.appendOnly ? 'yes' : 'no',
    '--maxmemory-policy',
    'noeviction',
  ]);
  return { ...server, url: `redis://127.0.0.1:${server.port}` };
}
