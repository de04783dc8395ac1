// Runs the `tm` command as a user does (bin/tm.js, the built bundle) and collects what it says.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

export type TmRun = { code: number | null; stdout: string; stderr: string };

export function runTm(args: readonly string[], env: Record<string, string> = {}): Promise<TmRun> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [resolve('bin/tm.js'), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}
