// Runs the local stack's processes: one-shot steps first, then every long-lived process with
// prefixed logs. A process that dies without being asked to is restarted with a growing delay,
// as compose's `restart:` policy and Kubernetes would. `stop` sends SIGTERM to all and waits,
// with SIGKILL as the last resort after the grace period.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { ProcessSpec } from './local-stack';

export type ExitRecord = {
  name: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** When the exit was seen (ms since epoch). */
  atMs: number;
  /** When `stop` sent this process SIGTERM, for the exit that followed it. */
  termAtMs?: number;
};

export type SupervisorOptions = {
  specs: readonly ProcessSpec[];
  /** Receives every output line, prefixed with the process name. */
  log: (line: string) => void;
  /** Turns one output line of a process into the line logged (default: `[name] line`). */
  format?: (name: string, line: string) => string;
  /** Restart processes that exit unexpectedly (default true). */
  restart?: boolean;
  nodePath?: string;
};

export type Supervisor = {
  start(): Promise<void>;
  stop(graceMs?: number): Promise<ExitRecord[]>;
  /** Signals one process (fault tests); a killed process is restarted unless `stop` was called. */
  kill(name: string, signal?: NodeJS.Signals): void;
  pid(name: string): number | undefined;
  restarts(name: string): number;
  /** Keeps a process down (fault tests: a function that stays unreachable): once it exits it is
   * not restarted until `release`. Does not signal it; pair with `kill`. */
  hold(name: string): void;
  /** Ends a hold and starts the process again if it is not running. */
  release(name: string): void;
  /** Exits seen so far (including restarts), in order. */
  readonly exits: ExitRecord[];
};

type Running = { spec: ProcessSpec; child: ChildProcess; restarts: number; timer?: NodeJS.Timeout; exited: boolean; termAtMs?: number };

export function createSupervisor(options: SupervisorOptions): Supervisor {
  const nodePath = options.nodePath ?? process.execPath;
  const running = new Map<string, Running>();
  const exits: ExitRecord[] = [];
  const held = new Set<string>();
  let stopping = false;

  const format = options.format ?? ((name: string, line: string) => `[${name}] ${line}`);
  const pipe = (name: string, stream: NodeJS.ReadableStream | null) => {
    if (!stream) return;
    const lines = createInterface({ input: stream });
    lines.on('line', (line) => options.log(format(name, line)));
  };

  const spawnProcess = (spec: ProcessSpec): ChildProcess => {
    const child = spawn(nodePath, [...spec.args], {
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    pipe(spec.name, child.stdout);
    pipe(spec.name, child.stderr);
    return child;
  };

  const supervise = (spec: ProcessSpec, restarts: number) => {
    const child = spawnProcess(spec);
    options.log(`[supervisor] started ${spec.name} pid ${child.pid}`);
    const entry: Running = { spec, child, restarts, exited: false };
    running.set(spec.name, entry);
    child.once('exit', (code, signal) => {
      entry.exited = true;
      exits.push({ name: spec.name, code, signal, atMs: Date.now(), ...(entry.termAtMs === undefined ? {} : { termAtMs: entry.termAtMs }) });
      if (stopping || options.restart === false) return;
      if (held.has(spec.name)) {
        options.log(`[supervisor] ${spec.name} exited (${signal ?? code}); held down, not restarting`);
        return;
      }
      const delay = Math.min(250 * 2 ** Math.min(entry.restarts, 5), 5_000);
      options.log(`[supervisor] ${spec.name} exited (${signal ?? code}); restarting in ${delay} ms`);
      entry.timer = setTimeout(() => {
        if (!stopping && !held.has(spec.name)) supervise(spec, entry.restarts + 1);
      }, delay);
    });
  };

  const runOnce = async (spec: ProcessSpec) => {
    for (let attempt = 1; ; attempt += 1) {
      const child = spawnProcess(spec);
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      if (code === 0) return;
      if (attempt >= 20 || stopping) throw new Error(`${spec.name} failed with exit code ${code}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  };

  return {
    exits,
    async start() {
      for (const spec of options.specs.filter((s) => s.oneShot)) await runOnce(spec);
      for (const spec of options.specs.filter((s) => !s.oneShot)) supervise(spec, 0);
    },
    async stop(graceMs = 30_000) {
      stopping = true;
      const waits = [...running.values()].map(async (entry) => {
        clearTimeout(entry.timer);
        const { child } = entry;
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGCONT');
        entry.termAtMs = Date.now();
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      });
      await Promise.all(waits);
      // The last exit of each process: how it ended when asked to stop.
      return [...running.keys()].flatMap((name) => exits.filter((e) => e.name === name).slice(-1));
    },
    kill(name, signal = 'SIGKILL') {
      running.get(name)?.child.kill(signal);
    },
    pid(name) {
      return running.get(name)?.child.pid;
    },
    restarts(name) {
      return running.get(name)?.restarts ?? 0;
    },
    hold(name) {
      held.add(name);
    },
    release(name) {
      held.delete(name);
      const entry = running.get(name);
      if (!entry || stopping || !entry.exited) return;
      clearTimeout(entry.timer);
      supervise(entry.spec, entry.restarts + 1);
    },
  };
}
