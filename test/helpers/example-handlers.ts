// The example task handlers of examples/handlers/ as their README section runs them (their own
// processes, on free ports), and a handler whose answers a test scripts: a user's HTTP endpoint
// that answers 503 twice, refuses with 422, never answers, or notices that the worker left.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getFreePort, waitForPort } from './ports';

export type RunningHandler = { url: string; output: string[]; stop(): Promise<void> };

function startProcess(command: string, args: string[], port: number): ChildProcess & { output: string[] } {
  const child = spawn(command, args, { env: { ...process.env, PORT: String(port), HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout.on('data', (chunk: Buffer) => output.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
  child.stderr.on('data', (chunk: Buffer) => output.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
  return Object.assign(child, { output });
}

/** Runs an example handler (`python3 word_stats.py`, `node reverse.ts`) until stop(). */
export async function startExampleHandler(command: string, args: string[]): Promise<RunningHandler> {
  const port = await getFreePort();
  const child = startProcess(command, args, port);
  await waitForPort(port, 15_000);
  return {
    url: `http://127.0.0.1:${port}/`,
    output: child.output,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** One request the scripted handler got: its task, attempt, and whether the worker closed the
 * connection before the handler answered (a cancel or a timeout). */
export type ScriptedRequest = {
  path: string;
  taskId: string;
  attempt: number;
  payload: unknown;
  /** The W3C trace context the worker sent (`ce-traceparent`). */
  traceparent: string | undefined;
  closedEarly: boolean;
};

/** What a path answers: `undefined` never answers (the worker has to give up). */
export type Script = (request: ScriptedRequest, res: ServerResponse, countForTask: number) => void;

export type ScriptedHandler = { url(path: string): string; requests: ScriptedRequest[]; stop(): Promise<void> };

export async function startScriptedHandler(scripts: Record<string, Script>): Promise<ScriptedHandler> {
  const requests: ScriptedRequest[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = (req.url ?? '/').slice(1);
      const request: ScriptedRequest = {
        path,
        taskId: String(req.headers['ce-subject']),
        attempt: Number(req.headers['ce-attempt']),
        payload: JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null'),
        traceparent: req.headers['ce-traceparent'] as string | undefined,
        closedEarly: false,
      };
      requests.push(request);
      res.on('close', () => {
        request.closedEarly = !res.writableEnded;
      });
      const script = scripts[path];
      if (!script) return void res.writeHead(404).end(`no script for ${path}`);
      script(request, res, requests.filter((seen) => seen.path === path && seen.taskId === request.taskId).length);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path) => `http://127.0.0.1:${port}/${path}`,
    requests,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
