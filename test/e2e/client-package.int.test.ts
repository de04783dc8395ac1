// The client as a package another project installs: `npm pack` in client/, the tarball installed
// into a fresh project with npm, then that project type-checks against it and submits a task to
// a running stack, from ESM and from CommonJS.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../helpers/stack';

const run = promisify(execFile);
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

const ESM_MAIN = `import { createTaskManagerClient } from '@taskmanager/client';
const client = createTaskManagerClient({ address: process.env.TM_ADDRESS });
const { taskId } = await client.submit({ type: 'echo', payload: JSON.stringify({ from: 'esm' }) });
const result = await client.waitForResult(taskId);
const types = await client.listTaskTypes();
console.log(JSON.stringify({ state: result.state, output: result.output, types: types.map((type) => type.name) }));
client.close();
`;

const CJS_MAIN = `const { createTaskManagerClient } = require('@taskmanager/client');
const client = createTaskManagerClient({ address: process.env.TM_ADDRESS });
client.submit({ type: 'echo', payload: JSON.stringify({ from: 'cjs' }) })
  .then(({ taskId }) => client.waitForResult(taskId))
  .then((result) => { console.log(JSON.stringify({ state: result.state, output: result.output })); client.close(); });
`;

// Type-checks against the installed declarations; each @ts-expect-error fails the check when the
// types are missing (any), so it proves they are there.
const CONSUMER_TS = `import { createTaskManagerClient, isTerminalState, type TaskResult } from '@taskmanager/client';
import { defineTaskHandler, PermanentTaskError } from '@taskmanager/client/handler';

const client = createTaskManagerClient({ address: 'localhost:50051' });
export async function run(): Promise<TaskResult> {
  const { taskId } = await client.submit({ type: 'echo', payload: '{}' });
  // @ts-expect-error a task id is a string
  await client.getResult(42);
  return client.waitForResult(taskId);
}
export const terminal: boolean = isTerminalState('SUCCEEDED');

export default defineTaskHandler<{ title: string }, { slug: string }>({
  async handle(payload, { signal, progress }) {
    signal.throwIfAborted();
    await progress(50, 'half way');
    if (payload.title === '') throw new PermanentTaskError('empty title');
    return { slug: payload.title.toLowerCase() };
  },
});

export const wrongOutput = defineTaskHandler<{ title: string }, { slug: string }>({
  // @ts-expect-error the output must be { slug: string }
  handle: async () => ({ slug: 1 }),
});
`;

describe('the client package, installed into another project', () => {
  let stack: TestStack;
  let project: string;

  beforeAll(async () => {
    const packs = mkdtempSync(join(tmpdir(), 'tm-client-pack-'));
    // prepack builds client/dist (bundles, declarations, the proto) first.
    await run(NPM, ['pack', '--pack-destination', packs], { cwd: resolve('client') });
    const tarball = readdirSync(packs).find((name) => name.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack left no tarball in ${packs}`);
    project = mkdtempSync(join(tmpdir(), 'tm-client-user-'));
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'a-user-project', private: true, version: '1.0.0' }));
    await run(NPM, ['install', join(packs, tarball), '--prefer-offline', '--no-audit', '--no-fund'], { cwd: project });
    stack = await startTestStack();
  }, 240_000);

  afterAll(async () => {
    await stack?.stop();
  }, 60_000);

  it('submits a task and reads its result from ESM and from CommonJS', async () => {
    writeFileSync(join(project, 'main.mjs'), ESM_MAIN);
    writeFileSync(join(project, 'main.cjs'), CJS_MAIN);
    const env = { ...process.env, TM_ADDRESS: stack.gatewayAddress };
    const esm = JSON.parse((await run(process.execPath, ['main.mjs'], { cwd: project, env })).stdout) as Record<string, unknown>;
    expect(esm).toEqual({ state: 'SUCCEEDED', output: { from: 'esm' }, types: ['echo', 'sleep', 'hash', 'fail', 'flaky'] });
    const cjs = JSON.parse((await run(process.execPath, ['main.cjs'], { cwd: project, env })).stdout) as Record<string, unknown>;
    expect(cjs).toEqual({ state: 'SUCCEEDED', output: { from: 'cjs' } });
  });

  it('type-checks a project that uses the client and the handler helper', async () => {
    mkdirSync(join(project, 'src'), { recursive: true });
    writeFileSync(join(project, 'src', 'consumer.ts'), CONSUMER_TS);
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { strict: true, noEmit: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', types: [], skipLibCheck: false, lib: ['es2022', 'dom'] }, include: ['src'] }),
    );
    const tsc = resolve('node_modules/typescript/bin/tsc');
    const result = await run(process.execPath, [tsc, '-p', project], { cwd: project }).then(
      () => ({ code: 0, output: '' }),
      (error: { code?: number; stdout?: string }) => ({ code: error.code ?? 1, output: error.stdout ?? '' }),
    );
    expect(result).toEqual({ code: 0, output: '' });
    // And a wrong call is caught: the declarations are real.
    writeFileSync(join(project, 'src', 'wrong.ts'), "import { createTaskManagerClient } from '@taskmanager/client';\ncreateTaskManagerClient({ adress: 'x' });\n");
    const wrong = await run(process.execPath, [tsc, '-p', project], { cwd: project }).then(
      () => '',
      (error: { stdout?: string }) => error.stdout ?? '',
    );
    expect(wrong).toMatch(/wrong\.ts.*'adress' does not exist/s);
  });
});
