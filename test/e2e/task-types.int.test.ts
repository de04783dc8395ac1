// Bring your own handler (DESIGN §9), end to end on the process stack with real NATS and Redis:
// a registry file with the examples of examples/handlers/ (Python over HTTP, TypeScript over
// HTTP, a TypeScript module) and HTTP endpoints whose answers the test scripts (503 twice, 422,
// never answering, noticing a cancel), each task judged by what a client sees.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskManagerClient, type StatusUpdate, type TaskManagerClient } from '../../client/client';
import { KEYS } from '../../shared/contract';
import { waitFor } from '../helpers/ports';
import { startExampleHandler, startScriptedHandler, type RunningHandler, type ScriptedHandler } from '../helpers/example-handlers';
import { startTestStack, type TestStack } from '../helpers/stack';
import { runTm } from '../helpers/tm';

const STRING_TEXT = { type: 'object', required: ['text'], properties: { text: { type: 'string' }, pause_ms: { type: 'integer' } } };

function toRegistry(python: string, node: string, scripted: ScriptedHandler): string {
  const http = (name: string, url: string, limits: Record<string, unknown>) => ({ name, http: { url }, schema: {}, ...limits });
  return JSON.stringify({
    task_types: [
      { name: 'word-stats', http: { url: python }, schema: STRING_TEXT, timeout_ms: 10_000, max_attempts: 3 },
      { name: 'reverse', http: { url: node }, schema: STRING_TEXT, timeout_ms: 10_000, max_attempts: 3 },
      { name: 'slugify', module: resolve('examples/handlers/module/slugify.ts'), schema: {}, timeout_ms: 5_000, max_attempts: 2 },
      http('warming-up', scripted.url('warming-up'), { timeout_ms: 5_000, max_attempts: 3, retry_delays_ms: [300, 600] }),
      http('refusing', scripted.url('refusing'), { timeout_ms: 5_000, max_attempts: 3 }),
      http('silent', scripted.url('silent'), { timeout_ms: 300, max_attempts: 2, retry_delays_ms: [100] }),
      http('endless', scripted.url('endless'), { timeout_ms: 60_000, max_attempts: 1 }),
      http('slow', scripted.url('slow'), { timeout_ms: 30_000, max_attempts: 3, retry_delays_ms: [100] }),
    ],
  });
}

describe('task types registered in a file, with handlers in any language', () => {
  let python: RunningHandler;
  let node: RunningHandler;
  let scripted: ScriptedHandler;
  let stack: TestStack;
  let client: TaskManagerClient;

  beforeAll(async () => {
    [python, node] = await Promise.all([
      startExampleHandler('python3', ['examples/handlers/python/word_stats.py']),
      startExampleHandler(process.execPath, ['examples/handlers/node/reverse.ts']),
    ]);
    scripted = await startScriptedHandler({
      'warming-up': (_request, res, count) => (count <= 2 ? res.writeHead(503).end('warming up') : res.writeHead(200).end('{"warm":true}')),
      refusing: (_request, res) => res.writeHead(422, { 'content-type': 'application/json' }).end('{"error":"colour must be red"}'),
      silent: () => undefined,
      endless: (_request, res) => res.writeHead(200, { 'content-type': 'application/x-ndjson' }).write('{"progress": 10, "message": "started"}\n'),
      slow: (_request, res) => void setTimeout(() => res.writeHead(200).end('{"slow":true}'), 1_500),
    });
    const dir = mkdtempSync(join(tmpdir(), 'tm-types-'));
    const file = join(dir, 'task-types.json');
    writeFileSync(file, toRegistry(python.url, node.url, scripted));
    stack = await startTestStack({ env: { TM_TASK_TYPES_FILE: file } });
    client = createTaskManagerClient({ address: stack.gatewayAddress });
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await stack?.stop();
    await Promise.all([python?.stop(), node?.stop(), scripted?.stop()]);
  }, 60_000);

  const statusesOf = async (taskId: string): Promise<StatusUpdate[]> => {
    const updates: StatusUpdate[] = [];
    for await (const update of client.watch(taskId, { afterSeq: 0 })) updates.push(update);
    return updates;
  };

  it('runs the Python, TypeScript and module examples: right outputs, progress lines live and in order', async () => {
    const words = await client.submit({ type: 'word-stats', payload: JSON.stringify({ text: 'one two\nthree', pause_ms: 150 }) });
    const reverse = await client.submit({ type: 'reverse', payload: JSON.stringify({ text: 'stressed' }) });
    const slug = await client.submit({ type: 'slugify', payload: JSON.stringify({ title: 'Hello, Wörld!' }) });
    const updates = await statusesOf(words.taskId);
    expect((await client.getResult(words.taskId)).output).toEqual({ words: 3, lines: 2, characters: 13 });
    expect(await client.waitForResult(reverse.taskId)).toMatchObject({ state: 'SUCCEEDED', output: { reversed: 'desserts', attempt: 1 } });
    expect(await client.waitForResult(slug.taskId)).toMatchObject({ state: 'SUCCEEDED', output: { slug: 'hello-world' } });
    // Each NDJSON progress line became a RUNNING status, in order, with the handler's message.
    const progress = updates.filter((update) => update.state === 'RUNNING' && update.progress > 0);
    expect(progress.map((update) => [update.progress, update.message])).toEqual([
      [50, 'attempt 1 of 3: line 1 of 2'],
      [100, 'attempt 1 of 3: line 2 of 2'],
    ]);
    expect(updates.at(-1)!.state).toBe('SUCCEEDED');
  });

  it('a handler answering 503 twice then 200 ends SUCCEEDED on attempt 3, after the type’s own delays', async () => {
    const { taskId } = await client.submit({ type: 'warming-up', payload: '{}' });
    const updates = await statusesOf(taskId);
    const result = await client.getResult(taskId);
    expect(result).toMatchObject({ state: 'SUCCEEDED', output: { warm: true }, attempts: 3 });
    const retrying = updates.filter((update) => update.state === 'RETRYING');
    expect(retrying.map((update) => update.message)).toEqual([
      expect.stringMatching(/handler answered 503: warming up; retrying in 0\.3s$/),
      expect.stringMatching(/handler answered 503: warming up; retrying in 0\.6s$/),
    ]);
    // The source waited as the type says before the next attempt.
    const requests = scripted.requests.filter((request) => request.taskId === taskId);
    expect(requests.map((request) => request.attempt)).toEqual([1, 2, 3]);
    // Each attempt carries the task's one trace (the id its submit started).
    const traceIds = requests.map((request) => /^00-([0-9a-f]{32})-[0-9a-f]{16}-0[01]$/.exec(request.traceparent ?? '')?.[1]);
    expect(traceIds.every(Boolean), JSON.stringify(requests)).toBe(true);
    expect(new Set(traceIds).size).toBe(1);
    const runningAt = (attempt: number) => updates.find((update) => update.state === 'RUNNING' && update.attempt === attempt)!.updatedAtMs;
    expect(runningAt(2) - retrying[0]!.updatedAtMs).toBeGreaterThanOrEqual(300);
    expect(runningAt(3) - retrying[1]!.updatedAtMs).toBeGreaterThanOrEqual(600);
  });

  it('a 422 ends FAILED at once with the handler’s reason and one dead letter', async () => {
    const { taskId } = await client.submit({ type: 'refusing', payload: '{}' });
    const result = await client.waitForResult(taskId);
    expect(result.state).toBe('FAILED');
    expect(result.error).toBe('handler answered 422: {"error":"colour must be red"}');
    expect(scripted.requests.filter((request) => request.taskId === taskId)).toHaveLength(1);
    const letters = async () =>
      (await stack.redis.lrange(KEYS.deadLetter, 0, -1)).map((entry) => JSON.parse(entry) as { taskId: string; lastError: string }).filter((entry) => entry.taskId === taskId);
    await waitFor('the dead letter', async () => (await letters()).length > 0 || undefined);
    expect(await letters()).toEqual([expect.objectContaining({ lastError: 'handler answered 422: {"error":"colour must be red"}' })]);
  });

  it('a handler that never answers hits the type’s timeout, is retried, and fails after the type’s attempts', async () => {
    const { taskId } = await client.submit({ type: 'silent', payload: '{}' });
    const updates = await statusesOf(taskId);
    expect(updates.at(-1)).toMatchObject({ state: 'FAILED' });
    expect(updates.find((update) => update.state === 'RETRYING')?.message).toMatch(/timed out after 300 ms; retrying in 0\.1s/);
    const requests = scripted.requests.filter((request) => request.taskId === taskId);
    expect(requests.map((request) => [request.attempt, request.closedEarly])).toEqual([
      [1, true],
      [2, true],
    ]);
  });

  it('cancelling a running HTTP task closes the handler’s connection and ends CANCELLED', async () => {
    const { taskId } = await client.submit({ type: 'endless', payload: '{}' });
    await waitFor('the handler to report progress', async () => ((await client.getTask(taskId)).status?.progress ?? 0) >= 10 || undefined);
    await client.cancel(taskId);
    expect((await client.waitForResult(taskId)).state).toBe('CANCELLED');
    const request = scripted.requests.find((seen) => seen.taskId === taskId)!;
    await waitFor('the handler to see its connection close', () => request.closedEarly || undefined);
  });

  it('a payload that violates the type’s schema is REJECTED, naming the field', async () => {
    const { taskId } = await client.submit({ type: 'word-stats', payload: JSON.stringify({ text: 42 }) });
    const result = await client.waitForResult(taskId);
    expect(result.state).toBe('REJECTED');
    expect(result.error).toMatch(/schema of "word-stats": \/text must be string/);
  });

  it('a task may lower its type’s attempt limit but not raise it', async () => {
    await expect(client.submit({ type: 'slugify', payload: '{"title":"x"}', maxAttempts: 3 })).rejects.toThrow(/max_attempts: .*limit of task type "slugify", 2/);
    const { taskId } = await client.submit({ type: 'slugify', payload: '{"title":"x"}', maxAttempts: 1 });
    expect((await client.waitForResult(taskId)).state).toBe('SUCCEEDED');
  });

  it('ListTaskTypes and tm types show the registry beside the built-ins', async () => {
    const types = await client.listTaskTypes();
    expect(types.map((type) => type.name)).toEqual(['echo', 'sleep', 'hash', 'fail', 'flaky', 'word-stats', 'reverse', 'slugify', 'warming-up', 'refusing', 'silent', 'endless', 'slow']);
    expect(types.find((type) => type.name === 'warming-up')).toEqual({
      name: 'warming-up',
      description: 'http handler',
      schema: {},
      timeoutMs: 5_000,
      maxAttempts: 3,
      retryDelaysMs: [300, 600],
      handler: 'http',
    });
    expect(types.find((type) => type.name === 'word-stats')?.schema).toEqual(STRING_TEXT);
    const tm = await runTm(['types', '--json'], { TM_ADDRESS: stack.gatewayAddress });
    expect(tm.code).toBe(0);
    const lines = tm.stdout.trim().split('\n').map((line) => JSON.parse(line) as { name: string; handler: string });
    expect(lines.map((line) => [line.name, line.handler])).toContainEqual(['slugify', 'module']);
    const text = await runTm(['types'], { TM_ADDRESS: stack.gatewayAddress });
    expect(text.stdout).toMatch(/^word-stats\s+http\s+timeout=10000ms\s+attempts=3\s+retry=default\s+http handler$/m);
  });

  it('killing the worker while an HTTP handler runs still ends the task in one terminal state', async () => {
    const { taskId } = await client.submit({ type: 'slow', payload: '{}' });
    await waitFor('the handler to be called', () => scripted.requests.some((request) => request.taskId === taskId) || undefined);
    // Every delivery counts as an attempt, also one that finds no worker listening: the source
    // waits until the worker is back, so the test does not race the restart against the
    // scaled-down retry delays (docs/task-types.md, "Attempts").
    stack.supervisor.kill('worker-source', 'SIGSTOP');
    const killed = stack.supervisor.pid('worker');
    stack.supervisor.kill('worker', 'SIGKILL');
    const readiness = `http://127.0.0.1:${stack.ports.worker}/health/readiness`;
    await waitFor('the worker to be back', async () => stack.supervisor.pid('worker') !== killed && (await fetch(readiness).then((res) => res.ok, () => false)));
    stack.supervisor.kill('worker-source', 'SIGCONT');
    const updates = await statusesOf(taskId);
    const terminal = updates.filter((update) => ['SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED'].includes(update.state));
    expect(terminal.map((update) => update.state), JSON.stringify(updates, null, 1)).toEqual(['SUCCEEDED']);
    const requests = scripted.requests.filter((request) => request.taskId === taskId);
    expect(await client.getResult(taskId), JSON.stringify(requests)).toMatchObject({ state: 'SUCCEEDED', output: { slow: true } });
    // The killed worker's request was cut off (the handler saw its connection close); the one
    // that finished came from the restarted worker. (Its attempt is 2, or 1 again when JetStream
    // repeated the delivery count: the cut-off attempt had no outcome, gate.ts.)
    expect(requests.map((request) => request.closedEarly)).toEqual([true, false]);
  }, 90_000);
});

describe('a bad registry file', () => {
  /** Runs a bundle until it exits (it must, before connecting anywhere) and returns what it said. */
  const startBundle = (bundle: string, env: Record<string, string>) =>
    new Promise<{ code: number | null; output: string }>((done) => {
      const child = spawn(process.execPath, [resolve('dist', bundle)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      child.on('close', (code) => done({ code, output }));
    });

  it('stops the gateway, ingest and the worker at start-up, each listing every problem', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tm-bad-types-'));
    const file = join(dir, 'types.yaml');
    writeFileSync(
      file,
      ['task_types:', '  - { name: echo, builtin: echo, schema: {}, timeout_ms: 1, max_attempts: 1 }', '  - { name: resize, http: { url: "ftp://h" }, schema: {}, timeout_ms: 0, max_attempts: 1, size: 3 }'].join('\n'),
    );
    // Nothing listens on these: a component that got past its configuration would fail otherwise.
    const env = { TM_TASK_TYPES_FILE: file, NATS_URL: 'nats://127.0.0.1:1', REDIS_URL: 'redis://127.0.0.1:1', PORT: '0' };
    for (const bundle of ['gateway.cjs', 'functions/ingest.cjs', 'functions/worker.cjs']) {
      const { code, output } = await startBundle(bundle, env);
      expect(code, output).not.toBe(0);
      expect(output, bundle).toContain('invalid configuration');
      for (const problem of [
        'task_types[0] "echo": name "echo" is a built-in task type',
        'task_types[1] "resize": unknown key(s) size',
        'task_types[1] "resize": timeout_ms must be an integer from 1',
        'task_types[1] "resize": http.url must be http:// or https://',
      ]) {
        expect(output, bundle).toContain(problem);
      }
    }
  });

  it('stops the worker when a module does not load, or a type wants more attempts than the source gives', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tm-bad-module-'));
    const file = join(dir, 'types.yaml');
    writeFileSync(file, 'task_types:\n  - { name: gone, module: ./gone.js, schema: {}, timeout_ms: 1000, max_attempts: 9 }\n');
    const { code, output } = await startBundle('functions/worker.cjs', { TM_TASK_TYPES_FILE: file, TM_MAX_DELIVER: '5', NATS_URL: 'nats://127.0.0.1:1', REDIS_URL: 'redis://127.0.0.1:1', PORT: '0' });
    expect(code, output).not.toBe(0);
    expect(output).toContain('task type "gone": max_attempts 9 exceeds TM_MAX_DELIVER 5');
    expect(output).toContain(`task type "gone": module ${join(dir, 'gone.js')} cannot be loaded`);
  });
});
