// The `tm` command run in-process (injected argv and output) against the fake TaskManager.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliIo } from './cli-main';
import { DEMO_MIX } from './demo';
import { startFakeTaskManager, type FakeTaskManager } from './testing/fake-task-manager';

let server: FakeTaskManager;
beforeAll(async () => {
  server = await startFakeTaskManager({ autoComplete: true });
});
afterAll(() => server.stop());

function createIo(options: { isTTY?: boolean; env?: Record<string, string>; files?: Record<string, string> } = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdout: { write: (chunk: string) => out.push(chunk), isTTY: options.isTTY, columns: 200 },
    stderr: { write: (chunk: string) => err.push(chunk) },
    env: { TM_ADDRESS: server.address, ...options.env },
    version: '1.2.3',
    readFile: (path) => {
      const text = options.files?.[path];
      if (text === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
      return Buffer.from(text);
    },
  };
  return { io, stdout: () => out.join(''), stderr: () => err.join('') };
}

async function run(argv: string[], options?: Parameters<typeof createIo>[0]) {
  const { io, stdout, stderr } = createIo(options);
  const code = await main(argv, io);
  return { code, stdout: stdout(), stderr: stderr() };
}

describe('tm submit', () => {
  it('submits with the given options and prints the response as JSON', async () => {
    const result = await run(['submit', 'echo', '{"x": 1}', '--priority', 'low', '--meta', 'who=cli', '--max-attempts', '2'], { env: { TM_TOKEN: 'tk' } });
    expect(result.code).toBe(0);
    const printed = JSON.parse(result.stdout) as { taskId: string; state: string; duplicate: boolean };
    expect(printed).toMatchObject({ state: 'QUEUED', duplicate: false });
    const task = server.tasks.get(printed.taskId)!;
    expect(task).toMatchObject({ type: 'echo', payload: '{"x": 1}', priority: 'PRIORITY_LOW', metadata: { who: 'cli' }, maxAttempts: 2 });
    const call = server.calls.findLast((c) => c.method === 'SubmitTask')!;
    expect(call.metadata.authorization).toBe('Bearer tk');
  });

  it('with --watch follows the task and exits 0 when it succeeds, 3 when it ends otherwise', async () => {
    const ok = await run(['submit', 'flaky', '{"failures": 1}', '--watch']);
    expect(ok.code).toBe(0);
    const lines = ok.stdout.trim().split('\n');
    expect(lines[1]).toMatch(/^#1 QUEUED/);
    expect(lines).toContainEqual(expect.stringMatching(/^#\d+ RETRYING .*attempt=1/));
    expect(lines.at(-1)).toMatch(/SUCCEEDED .*attempt=2/);
    const failed = await run(['submit', 'fail', '{}', '--max-attempts', '1', '--watch', '--json']);
    expect(failed.code).toBe(3);
    expect(JSON.parse(failed.stdout.trim().split('\n').at(-1)!)).toMatchObject({ state: 'FAILED', attempt: 1 });
  });

  it('prints a usage error naming the problem and exits 2 without calling the server', async () => {
    const before = server.calls.length;
    const result = await run(['submit', 'echo', '--priority', 'urgent']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--priority must be one of low, medium, high (got 'urgent')");
    expect(result.stdout).toBe('');
    expect(server.calls.length).toBe(before);
  });

  it('prints the server code and message and exits 1 when the server refuses', async () => {
    const refused = await run(['submit', 'echo', '--max-attempts', '9']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('tm: INVALID_ARGUMENT: max_attempts must be between 0 and 5\n');
    expect(refused.stdout).toBe('');
  });

  it('exits 1 with UNAVAILABLE when nothing listens at the address', async () => {
    const stopped = await startFakeTaskManager();
    await stopped.stop();
    const result = await run(['submit', 'echo', '--address', stopped.address]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^tm: UNAVAILABLE: /);
  });
});

describe('tm get / result / cancel / watch', () => {
  it('prints the task and its result as JSON', async () => {
    const submitted = await run(['submit', 'hash', '{"data": "abc"}']);
    const { taskId } = JSON.parse(submitted.stdout) as { taskId: string };
    const got = await run(['get', taskId]);
    expect(got.code).toBe(0);
    const task = JSON.parse(got.stdout) as { taskId: string; type: string; status: { state: string }; history: unknown[] };
    expect(task).toMatchObject({ taskId, type: 'hash', status: { state: 'SUCCEEDED' } });
    expect(task.history.length).toBe(server.tasks.get(taskId)!.history.length);
    const result = await run(['result', taskId]);
    expect(JSON.parse(result.stdout)).toMatchObject({ taskId, state: 'SUCCEEDED', output: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/) } });
  });

  it('exits 1 with NOT_FOUND for an unknown id', async () => {
    const result = await run(['get', 'does-not-exist']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('tm: NOT_FOUND: task does-not-exist not found\n');
  });

  it('cancel of a finished task reports FAILED_PRECONDITION', async () => {
    const { taskId } = JSON.parse((await run(['submit', 'echo'])).stdout) as { taskId: string };
    const result = await run(['cancel', taskId]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('FAILED_PRECONDITION');
  });

  it('watch prints the current state only, or the whole history with --from-start', async () => {
    const { taskId } = JSON.parse((await run(['submit', 'echo'])).stdout) as { taskId: string };
    const current = await run(['watch', taskId]);
    expect(current.code).toBe(0);
    expect(current.stdout.trim().split('\n')).toHaveLength(1);
    const all = await run(['watch', taskId, '--from-start']);
    expect(all.stdout.trim().split('\n')).toHaveLength(server.tasks.get(taskId)!.history.length);
  });
});

describe('tm demo', () => {
  it('submits the whole mix, logs each change on a non-TTY, and exits 0 with a summary by state', async () => {
    const before = server.tasks.size;
    const result = await run(['demo']);
    expect(result.code).toBe(0);
    const submitted = [...server.tasks.values()].slice(before);
    expect(submitted.map((task) => task.type)).toEqual(DEMO_MIX.map((task) => task.input.type));
    expect(new Set(submitted.map((task) => task.priority))).toEqual(new Set(['PRIORITY_LOW', 'PRIORITY_MEDIUM', 'PRIORITY_HIGH']));
    expect(submitted.find((task) => task.type === 'fail')!.maxAttempts).toBe(2);
    expect(result.stdout).not.toContain('\x1b[');
    const totalChanges = submitted.reduce((sum, task) => sum + task.history.length, 0);
    const rowLines = result.stdout.split('\n').filter((line) => submitted.some((task) => line.includes(task.taskId.slice(0, 8))));
    // One line per status change; the submit response and the streamed QUEUED are one line.
    expect(rowLines.length).toBe(totalChanges);
    expect(rowLines.some((line) => line.includes('RUNNING') && line.includes('[##########..........]  50%'))).toBe(true);
    expect(result.stdout).toContain('summary: 9 tasks: SUCCEEDED 7, FAILED 1, REJECTED 1\n');
  });

  it('redraws the rows in place on a TTY', async () => {
    const result = await run(['demo', '--count', '2'], { isTTY: true });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('\x1b[2A');
    expect(result.stdout).toContain('\x1b[2K');
    expect(result.stdout).toContain('summary: 2 tasks: SUCCEEDED 2\n');
  });

  it('exits 1 when a task cannot be followed to a terminal state', async () => {
    const broken = await startFakeTaskManager({
      autoComplete: true,
      overrides: { StreamStatus: (call) => call.emit('error', { code: 7, details: 'not allowed' }) },
    });
    try {
      const result = await run(['demo', '--count', '1', '--address', broken.address]);
      expect(result.code).toBe(1);
      expect(result.stdout).toContain('PERMISSION_DENIED: not allowed');
      expect(result.stdout).toContain('summary: 1 task: ERROR 1');
    } finally {
      await broken.stop();
    }
  });
});

describe('tm for newcomers: help, version and usage errors', () => {
  it('--version prints the version (as JSON with --json)', async () => {
    expect(await run(['--version'])).toEqual({ code: 0, stdout: 'tm 1.2.3\n', stderr: '' });
    expect(await run(['--version', '--json'])).toEqual({ code: 0, stdout: '{"version":"1.2.3"}\n', stderr: '' });
  });

  it('--help, help and <command> --help print usage on stdout and exit 0 without calling the server', async () => {
    const before = server.calls.length;
    const general = await run(['--help']);
    expect(general).toMatchObject({ code: 0, stderr: '' });
    expect(general.stdout).toMatch(/^Usage: tm <command> \[options\]/);
    expect((await run(['help'])).stdout).toBe(general.stdout);
    const submit = await run(['submit', '--help']);
    expect(submit.code).toBe(0);
    expect(submit.stdout).toMatch(/^Usage: tm submit <type> \[payload-json\]/);
    expect(submit.stdout).toContain('--max-attempts N');
    expect((await run(['help', 'submit'])).stdout).toBe(submit.stdout);
    expect(server.calls.length).toBe(before);
  });

  it('an unknown flag or a missing argument: the problem, the usage line, exit 2', async () => {
    expect(await run(['get', 'some-id', '--verbose'])).toEqual({
      code: 2,
      stdout: '',
      stderr: "tm: unknown option --verbose\nUsage: tm get <id> [global options]\nRun 'tm get --help' for details.\n",
    });
    expect(await run(['cancel'])).toEqual({
      code: 2,
      stdout: '',
      stderr: "tm: 'cancel' needs a task id: missing <id>\nUsage: tm cancel <id> [global options]\nRun 'tm cancel --help' for details.\n",
    });
    const noCommand = await run([]);
    expect(noCommand.code).toBe(2);
    expect(noCommand.stderr).toContain('Usage: tm <command> [options]   (commands: submit, watch, get, result, cancel, list, dlq, audit, stats, pause, resume, types, demo)');
  });
});

describe('tm --json', () => {
  const lines = (text: string) => text.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);

  it('get, result and cancel print one JSON object on one line', async () => {
    const { taskId } = JSON.parse((await run(['submit', 'echo', '{"a":1}', '--json'])).stdout) as { taskId: string };
    for (const command of ['get', 'result']) {
      const result = await run([command, taskId, '--json']);
      expect(result.code).toBe(0);
      expect(result.stdout.endsWith('\n')).toBe(true);
      expect(result.stdout.trim()).not.toContain('\n');
      expect(JSON.parse(result.stdout)).toMatchObject({ taskId });
    }
  });

  it('watch prints one JSON object per status change', async () => {
    const { taskId } = JSON.parse((await run(['submit', 'echo'])).stdout) as { taskId: string };
    const watched = await run(['watch', taskId, '--from-start', '--json']);
    expect(watched.code).toBe(0);
    const updates = lines(watched.stdout);
    expect(updates.map((update) => update.seq)).toEqual(server.tasks.get(taskId)!.history.map((_, index) => index + 1));
    expect(updates.at(-1)).toMatchObject({ taskId, state: 'SUCCEEDED' });
  });

  it('errors go to stderr as one JSON object with a code and a message, with a non-zero exit code', async () => {
    expect(await run(['get', 'does-not-exist', '--json'])).toEqual({
      code: 1,
      stdout: '',
      stderr: '{"error":{"code":"NOT_FOUND","message":"task does-not-exist not found"}}\n',
    });
    const usage = await run(['get', '--json']);
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.stderr)).toEqual({
      error: { code: 'USAGE', message: "'get' needs a task id: missing <id>", usage: 'Usage: tm get <id> [global options]' },
    });
    const refused = await run(['submit', 'echo', '--max-attempts', '9', '--json']);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stderr)).toEqual({ error: { code: 'INVALID_ARGUMENT', message: 'max_attempts must be between 0 and 5' } });
  });

  it('demo prints each task change and the summary as JSON lines', async () => {
    const result = await run(['demo', '--count', '3', '--json'], { isTTY: true });
    expect(result.code).toBe(0);
    expect(result.stdout).not.toContain('\x1b[');
    const printed = lines(result.stdout);
    expect(printed.at(-1)).toEqual({ summary: { tasks: 3, states: { SUCCEEDED: 3 } } });
    const rows = printed.slice(0, -1);
    expect(new Set(rows.map((row) => row.taskId)).size).toBe(3);
    expect(rows.every((row) => typeof row.state === 'string' && typeof row.label === 'string')).toBe(true);
  });
});

describe('tm TLS options and the token', () => {
  it('an unreadable --ca or TM_CA_FILE is a usage error naming it', async () => {
    const flag = await run(['get', 'a', '--ca', '/nope/ca.pem']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/^tm: --ca: cannot read '\/nope\/ca\.pem': ENOENT/);
    const env = await run(['get', 'a'], { env: { TM_CA_FILE: '/nope/env.pem' } });
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/^tm: TM_CA_FILE: cannot read '\/nope\/env\.pem'/);
  });

  it('a token for another machine without TLS is refused (exit 2) before any call; with --insecure it goes, with a warning', async () => {
    const token = 'k3y-of-at-least-16-chars';
    const refused = await run(['get', 'a', '--address', 'nonexistent.invalid:1'], { env: { TM_TOKEN: token } });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('refusing to send TM_TOKEN without TLS to nonexistent.invalid:1');
    const insecure = await run(['get', 'a', '--address', 'nonexistent.invalid:1', '--insecure'], { env: { TM_TOKEN: token } });
    expect(insecure.stderr).toMatch(/^tm: warning: sending TM_TOKEN without TLS to nonexistent\.invalid:1 \(--insecure\)/);
    expect(insecure.stderr).not.toContain(token);
    expect(insecure.code).toBe(1);
  });

  it('TLS against a plaintext server fails with a hint that names the mismatch', async () => {
    const result = await run(['get', 'a', '--tls']);
    expect(result.code).toBe(1);
    const [message, hint, ...rest] = result.stderr.split('\n');
    expect(message).toMatch(/^tm: UNAVAILABLE: No connection established\. .*wrong version number/);
    expect(hint).toBe('tm: hint: the gateway does not speak TLS on this port: drop --tls/--ca (and TM_TLS, TM_CA_FILE)');
    expect(rest).toEqual(['']);
  });
});
