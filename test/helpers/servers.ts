// Test launcher: spawns real nats-server (JetStream) and redis-server on free ports with
// temporary data directories, so tests never touch the developer's running servers and fault
// tests can kill and restart them.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getFreePort, waitForPort } from './ports';
import { LOCAL_NATS_SERVER_ENV } from '../../shared/topology';

export type TestServer = {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Process id of the running server (for /proc reads: CPU time, memory); undefined when it is
   * not running. A method, so it follows restarts and survives `{ ...server }`. */
  pid(): number | undefined;
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

/** The inodes of the sockets listening on `port` (IPv4 and IPv6), from /proc/net. */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is HEXIP:HEXPORT, st 0A is LISTEN, the inode is the tenth field.
      if (fields[1]?.endsWith(`:${hexPort}`) && fields[3] === '0A' && fields[9]) inodes.add(fields[9]);
    }
  }
  return inodes;
}

/** Whether process `pid` holds the socket listening on `port`. */
export function ownsListener(pid: number, port: number): boolean {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return false;
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  return fds.some((fd) => {
    try {
      return inodes.has(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? '');
    } catch {
      return false;
    }
  });
}

async function waitForOwnListener(proc: ChildProcess, port: number, timeoutMs: number): Promise<void> {
  // Without /proc (not Linux) there is nothing to check against.
  if (proc.pid === undefined || !existsSync('/proc/net/tcp')) return;
  const deadline = Date.now() + timeoutMs;
  while (!ownsListener(proc.pid, port)) {
    if (Date.now() > deadline) throw new Error(`port ${port} is open, but not by the server started on it (pid ${proc.pid})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function launch(
  binary: string,
  packages: string,
  prefix: string,
  argsFor: (port: number, dataDir: string) => string[],
  env?: Record<string, string>,
): Promise<TestServer> {
  assertBinary(binary, packages);
  let port = await getFreePort();
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  let child: ChildProcess | undefined;

  const start = async () => {
    const proc = spawn(binary, argsFor(port, dataDir), {
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(env ? { env: { ...process.env, ...env } } : {}),
    });
    let stderr = '';
    proc.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    child = proc;
    const exited = new Promise<never>((_, reject) =>
      proc.once('exit', (code) => reject(new Error(`${binary} exited with ${code} on start: ${stderr}`))),
    );
    await Promise.race([waitForPort(port, 15_000), exited]);
    // Test files run in parallel workers, each handing out its own ports: another file's server
    // may hold this one, and then ours exits on the failed bind while the port looks open.
    // Started means: the listening socket is our process's.
    await Promise.race([waitForOwnListener(proc, port, 15_000), exited]);
  };

  const stopChild = async (signal: NodeJS.Signals) => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill(signal);
    await exited;
  };

  // A port another test file's server took meanwhile: ours exits on the bind; try another port.
  for (let attempt = 1; ; attempt += 1) {
    try {
      await start();
      break;
    } catch (error) {
      if (attempt === 3 || child?.exitCode === null) throw error;
      port = await getFreePort();
    }
  }
  return {
    url: '',
    port,
    dataDir,
    pid() {
      return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
    },
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
  ], LOCAL_NATS_SERVER_ENV);
  return { ...server, url: `nats://127.0.0.1:${server.port}` };
}

export type ConfiguredNatsOptions = {
  /** The text of a nats.conf (e.g. configs/nats/nats.conf). Its copy in the server's temporary
   * directory gets that directory as JetStream store_dir (nats-server 2.9 refuses `-sd` next to
   * a store_dir in the file); port and monitoring port are free ports, set on the command line. */
  configText: string;
  /** Environment of nats-server: the variables the config references (passwords). */
  env: Record<string, string>;
};

/** nats-server run with a config file; `monitorPort` serves /varz, /healthz. */
export async function startConfiguredNatsServer(options: ConfiguredNatsOptions): Promise<TestServer & { monitorPort: number }> {
  const monitorPort = await getFreePort();
  const server = await launch(
    'nats-server',
    'nats-server',
    'tm-nats-',
    (port, dir) => {
      const file = join(dir, 'nats.conf');
      const storeDir = JSON.stringify(join(dir, 'jetstream'));
      writeFileSync(file, options.configText.replace(/^(\s*)store_dir\s*[:=]?\s*\S+/m, `$1store_dir: ${storeDir}`));
      return ['-c', file, '-a', '127.0.0.1', '-p', String(port), '-m', String(monitorPort)];
    },
    { ...LOCAL_NATS_SERVER_ENV, ...options.env },
  );
  return { ...server, url: `nats://127.0.0.1:${server.port}`, monitorPort };
}

export type RedisServerOptions = {
  appendOnly?: boolean;
  /** AOF fsync policy when appendOnly (Redis' default: everysec; production runs everysec). */
  appendFsync?: 'always' | 'everysec' | 'no';
};

export async function startRedisServer(options: RedisServerOptions = {}): Promise<TestServer> {
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
    '--appendfsync',
    options.appendFsync ?? 'everysec',
    '--maxmemory-policy',
    'noeviction',
  ]);
  return { ...server, url: `redis://127.0.0.1:${server.port}` };
}
