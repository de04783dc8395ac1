// The machine side of the container tests: running commands, installing Docker's tools with
// apt-get where they are missing, and starting a Docker engine when none runs (and stopping only
// the one this run started).
import { spawn, execFile } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { waitFor } from '../helpers/ports';

/**
 * Runs a command to its end and returns its stdout; a failure names the command, its exit
 * code and the end of what it printed.
 */
export function run(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const out = Buffer.concat(stdout).toString('utf8');
      if (code === 0) return resolve(out);
      const tail = (Buffer.concat(stderr).toString('utf8') + out).trim().split('\n').slice(-30).join('\n');
      reject(new Error(`${command} ${args.join(' ')} exited ${code ?? signal}:\n${tail}`));
    });
  });
}

/** True when the command runs and exits 0. */
export function succeeds(command: string, args: readonly string[]): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(command, args, (error) => resolve(!error));
  });
}

function onPath(command: string): Promise<boolean> {
  return succeeds('sh', ['-c', `command -v ${command}`]);
}

/** The Debian packages the container tests need, by the command each one brings. */
const TOOLS = { dockerd: 'docker.io', 'docker-compose': 'docker-compose', debootstrap: 'debootstrap' } as const;

/** Installs docker.io, docker-compose and debootstrap with apt-get where their commands are missing. */
export async function installMissingTools(log: (line: string) => void): Promise<void> {
  const missing: string[] = [];
  for (const [command, pkg] of Object.entries(TOOLS)) if (!(await onPath(command))) missing.push(pkg);
  if (missing.length === 0) return;
  log(`installing ${missing.join(', ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await run('apt-get', ['update', '-qq'], { env });
  await run('apt-get', ['install', '-y', '-qq', ...missing], { env });
}

export type Engine = {
  /** Whether this run started the engine (and so stops it). */
  readonly started: boolean;
  stop(): Promise<void>;
};

/**
 * The Docker engine: the running one, or a `dockerd` started here with the vfs storage driver
 * (the one that works inside this sandbox), its output in `logFile`.
 */
export async function ensureEngine(logFile: string, log: (line: string) => void): Promise<Engine> {
  if (await succeeds('docker', ['info'])) return { started: false, stop: async () => {} };
  log(`starting dockerd (vfs storage driver; its log: ${logFile})`);
  const out = openSync(logFile, 'a');
  const dockerd = spawn('dockerd', ['--storage-driver=vfs'], { stdio: ['ignore', out, out], detached: true });
  closeSync(out);
  const exited = new Promise<void>((resolve) => dockerd.once('exit', () => resolve()));
  await waitFor('the Docker engine to answer `docker info`', () => succeeds('docker', ['info']), 60_000, 500);
  return {
    started: true,
    async stop() {
      dockerd.kill('SIGTERM');
      await exited;
    },
  };
}
