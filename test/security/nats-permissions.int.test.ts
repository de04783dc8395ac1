// The process stack against nats-server run with the shipped configs/nats/nats.conf, every
// component connecting as its own user with its own password: tasks of every kind end correctly
// (the permissions are sufficient, including retries, dead letters, delays, cancels and the
// sources' give-ups), no component ever hits a permission violation, and the permissions bite
// (a worker cannot feed the pipeline's entry, pull another stage's work or listen in; a wrong
// password is refused). The gateway runs with an API key, so the client library's token is
// exercised end to end as well.
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskManagerClient, type TaskManagerClient } from '../../client/client';
import { EVENT_TYPES, KEYS, STREAM_TASKS, SUBJECTS, toPauseSubject } from '../../shared/contract';
import { ConfigError } from '../../shared/errors';
import { createEvent } from '../../shared/events';
import { createLogger } from '../../shared/logger';
import { connectNats, toInboxPrefix } from '../../shared/nats';
import { toNatsUsers } from '../../shared/nats-permissions';
import { createQueuePauses } from '../../shared/queue-pauses';
import { Secret } from '../../shared/secret';
import { waitFor } from '../helpers/ports';
import { startConfiguredNatsServer } from '../helpers/servers';
import { startTestStack, type TestStack } from '../helpers/stack';

const SHIPPED_CONFIG = 'configs/nats/nats.conf';
const API_KEY = `ops-${randomBytes(16).toString('hex')}`;
const USERS = toNatsUsers();
const passwords: Record<string, string> = Object.fromEntries(USERS.map((user) => [user.user, randomBytes(18).toString('base64url')]));
// nats-server reads a variable's value as config syntax: unquoted, `-x` or `1-2` stop it and a
// `#` starts a comment. Quoted (as docs/security.md says to pass them) any password is a string.
const serverEnv: Record<string, string> = Object.fromEntries(
  USERS.map((user) => [user.passwordVariable, JSON.stringify(passwords[user.user]!)]),
);

/** nats-server's version, e.g. [2, 9, 10]. */
function natsServerVersion(): number[] {
  const output = spawnSync('nats-server', ['--version'], { encoding: 'utf8' }).stdout;
  const match = /v(\d+)\.(\d+)\.(\d+)/.exec(output);
  if (!match) throw new Error(`cannot read the nats-server version from "${output}"`);
  return match.slice(1).map(Number);
}

/** `sync_interval` exists from nats-server 2.10 on; older servers refuse the whole file. */
function supportsSyncInterval([major = 0, minor = 0]: number[]): boolean {
  return major > 2 || (major === 2 && minor >= 10);
}

/** nats-server -t: validates a config file (with the password variables set). */
function checkConfig(file: string): { ok: boolean; output: string } {
  const result = spawnSync('nats-server', ['-c', file, '-t'], { encoding: 'utf8', env: { ...process.env, ...serverEnv } });
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

async function readList(stack: TestStack, key: string): Promise<Record<string, unknown>[]> {
  return (await stack.redis.lrange(key, 0, -1)).map((entry) => JSON.parse(entry) as Record<string, unknown>);
}

const violations = (stack: TestStack) => stack.logs.filter((line) => /Permissions Violation|nats refused an operation/.test(line));

describe('the stack on the shipped NATS config, one user per component', () => {
  let stack: TestStack;
  let client: TaskManagerClient;
  let dir: string;
  let configFile: string;
  let monitorPort = 0;
  const logger = createLogger('permissions-test', 'silent');
  const extraConnections: NatsConnection[] = [];

  const connectAs = async (user: string): Promise<NatsConnection> => {
    const nc = await connect({ servers: stack.nats.url, user, pass: passwords[user]!, inboxPrefix: toInboxPrefix({ kind: 'user', user, password: new Secret('') }) });
    extraConnections.push(nc);
    return nc;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tm-nats-conf-'));
    configFile = join(dir, 'nats.conf');
    const shipped = readFileSync(SHIPPED_CONFIG, 'utf8');
    // Debian's nats-server 2.9 does not know sync_interval (production images run 2.10+).
    const runnable = supportsSyncInterval(natsServerVersion()) ? shipped : shipped.replace(/^\s*sync_interval:.*$/m, '');
    writeFileSync(configFile, runnable);
    stack = await startTestStack({
      startNats: async () => {
        const server = await startConfiguredNatsServer({ configText: runnable, env: serverEnv });
        monitorPort = server.monitorPort;
        return server;
      },
      natsCredentials: Object.fromEntries(USERS.map((user) => [user.user, { user: user.user, password: passwords[user.user]! }])),
      natsClient: { user: 'setup', pass: passwords.setup!, inboxPrefix: '_INBOX.setup' },
      processEnv: { gateway: { TM_API_KEYS: `ops:${API_KEY}`, TM_OPERATOR_TENANTS: 'ops' } },
    });
    client = createTaskManagerClient({ address: stack.gatewayAddress, token: API_KEY });
  }, 150_000);

  afterAll(async () => {
    client?.close();
    for (const nc of extraConnections) await nc.close().catch(() => undefined);
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('nats-server accepts the shipped config (sync_interval from 2.10 on) and runs with its limits', async () => {
    const version = natsServerVersion();
    const full = checkConfig(SHIPPED_CONFIG);
    if (supportsSyncInterval(version)) {
      expect(full).toMatchObject({ ok: true });
    } else {
      // Only the fsync line stands between this server and the file.
      expect(full.ok).toBe(false);
      expect(full.output).toMatch(/unknown field "sync_interval"/);
    }
    expect(checkConfig(configFile)).toMatchObject({ ok: true });
    const varz = (await (await fetch(`http://127.0.0.1:${monitorPort}/varz`)).json()) as Record<string, unknown>;
    expect(varz).toMatchObject({ max_payload: 1024 * 1024, auth_required: true });
  });

  // Before any task, while the stack is idle, so "nothing reached the stream" is exact.
  it("the permissions bite: a worker cannot feed tasks.ingest, pull the ingest consumer, listen to events or read others' replies", async () => {
    const admin = await jetstreamManager(stack.nc);
    const before = (await admin.streams.info(STREAM_TASKS)).state.last_seq;
    const worker = await connectAs('worker');
    await expect(jetstream(worker, { timeout: 2_000 }).publish(SUBJECTS.ingest, '{}')).rejects.toThrow(
      /Permissions Violation for Publish to "tasks.ingest"/,
    );
    await expect(worker.request('$JS.API.CONSUMER.MSG.NEXT.TASKS.ingest', '{"batch":1,"no_wait":true}', { timeout: 2_000 })).rejects.toThrow(
      /Permissions Violation for Publish to "\$JS.API.CONSUMER.MSG.NEXT.TASKS.ingest"/,
    );
    // Neither the events nor anybody else's replies (PubAcks, pulled messages) can be read.
    for (const subject of ['events.>', '_INBOX.>', '_INBOX.gateway.>']) {
      const subscription = worker.subscribe(subject);
      await expect(subscription.closed).resolves.toMatchObject({
        message: expect.stringContaining(`Permissions Violation for Subscription to "${subject}"`),
      });
    }
    // Only setup may change the flow.
    const ingestSource = await connectAs('ingest-source');
    await expect(jetstreamManager(ingestSource).then((jsm) => jsm.streams.delete(STREAM_TASKS))).rejects.toThrow(/Permissions Violation/);
    expect((await admin.streams.info(STREAM_TASKS)).state.last_seq).toBe(before);
  });

  it('a wrong password, or none, is refused with an error that names the user and the variables', async () => {
    const wrong = await connectNats({ url: stack.nats.url, auth: { kind: 'user', user: 'worker', password: new Secret('not-the-password') }, name: 't', logger }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(wrong).toBeInstanceOf(ConfigError);
    expect(String((wrong as Error).message)).toMatch(/refused user "worker" \(NATS_USER\/NATS_PASSWORD\): .*Authorization Violation/);
    expect(String((wrong as Error).message)).not.toContain('not-the-password');
    const none = await connectNats({ url: stack.nats.url, name: 't', logger }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(String((none as Error).message)).toMatch(/refused no credentials/);
  });

  it('tasks of every kind end correctly: retries, dead letters, delays and cancels all pass the permissions', async () => {
    const cases = [
      { input: { type: 'echo', payload: { hello: 'nats users' } }, state: 'SUCCEEDED' },
      { input: { type: 'hash', payload: { data: 'abc' } }, state: 'SUCCEEDED' },
      { input: { type: 'sleep', payload: { ms: 50 }, priority: 'high' as const }, state: 'SUCCEEDED' },
      { input: { type: 'flaky', payload: { failures: 1 }, priority: 'low' as const }, state: 'SUCCEEDED' },
      { input: { type: 'echo', payload: { later: true }, delayMs: 1_000 }, state: 'SUCCEEDED' },
      { input: { type: 'fail', payload: { message: 'expected' }, maxAttempts: 2 }, state: 'FAILED' },
      { input: { type: 'no-such-type', payload: {} }, state: 'REJECTED' },
    ];
    const submitted = await Promise.all(cases.map(async (c) => ({ ...c, taskId: (await client.submit(c.input)).taskId })));
    const running = await client.submit({ type: 'sleep', payload: { ms: 60_000 } });
    for await (const update of client.watch(running.taskId)) if (update.state === 'RUNNING') break;
    expect((await client.cancel(running.taskId)).state).toBe('CANCELLED');

    for (const task of submitted) {
      const result = await client.waitForResult(task.taskId);
      expect(result.state, JSON.stringify(task.input)).toBe(task.state);
    }
    expect((await client.waitForResult(running.taskId)).state).toBe('CANCELLED');
    const flaky = submitted.find((task) => task.input.type === 'flaky')!;
    expect((await client.waitForResult(flaky.taskId)).attempts).toBe(2);

    // The dead letters and audit records went through NATS to their stages.
    const failedIds = submitted.filter((task) => task.state !== 'SUCCEEDED').map((task) => task.taskId);
    await waitFor('a dead letter per failed or rejected task', async () => {
      const letters = await readList(stack, KEYS.deadLetter);
      return failedIds.every((id) => letters.some((letter) => letter.taskId === id));
    });
    await waitFor('the cancel audit record of the gateway', async () =>
      (await readList(stack, KEYS.auditEvents)).some((entry) => entry.taskId === running.taskId && entry.action === 'task.cancelled'),
    );
    expect(violations(stack)).toEqual([]);
  });

  it('sources dead-letter what they cannot deliver, and report FAILED for task events, with their own users', async () => {
    const gateway = await connectAs('gateway');
    const js = jetstream(gateway);
    await js.publish(SUBJECTS.ingest, new TextEncoder().encode('not a CloudEvent'));
    const taskId = randomUUID();
    const wrongType = createEvent({ id: `${taskId}:odd`, component: 'test', type: EVENT_TYPES.finished, taskId, data: { nothing: true } });
    await js.publish(SUBJECTS.ingest, new TextEncoder().encode(JSON.stringify(wrongType)));

    await waitFor('both dead letters from the ingest source', async () => {
      const fromSource = (await readList(stack, KEYS.deadLetter)).filter((letter) => letter.stage === 'source:ingest');
      return fromSource.some((letter) => letter.taskId === 'unknown') && fromSource.some((letter) => letter.taskId === taskId);
    });
    await waitFor('the FAILED status reported by the source', async () => (await stack.redis.hget(KEYS.status(taskId), 'state')) === 'FAILED');
    expect(violations(stack)).toEqual([]);
  });

  it('the gateway may pause and resume a queue, its source follows with its own user, and nobody else may write a pause', async () => {
    // Through the gateway's RPCs first: pausing, and GetQueueStats reading every consumer.
    await client.pauseQueue('worker.low');
    const stats = await client.getQueueStats();
    expect(stats.queues.map((queue) => queue.queue)).toEqual(['ingest', 'schedule', 'worker.high', 'worker.medium', 'worker.low', 'results', 'status', 'audit', 'deadletter']);
    expect(stats.queues.filter((queue) => queue.paused).map((queue) => queue.queue)).toEqual(['worker.low']);
    await client.resumeQueue('worker.low');
    expect(violations(stack)).toEqual([]);

    const pauses = createQueuePauses(await connectAs('gateway'), { logger });
    const lowPaused = async () => {
      const health = (await (await fetch(`http://127.0.0.1:${stack.ports['worker-source']}/healthz`)).json()) as {
        consumers: Record<string, { paused: boolean }>;
      };
      return health.consumers['worker-low']!.paused;
    };
    await pauses.pause('worker.low', 'ops');
    try {
      expect([...(await pauses.paused()).keys()]).toEqual(['worker.low']);
      await waitFor('the worker source to pause worker-low', lowPaused);
    } finally {
      await pauses.resume('worker.low');
    }
    await waitFor('the worker source to resume worker-low', async () => !(await lowPaused()));
    for (const user of ['worker', 'worker-source']) {
      const nc = await connectAs(user);
      await expect(nc.request(toPauseSubject('worker.low'), '{"paused":true}', { timeout: 2_000 }), user).rejects.toThrow(
        /Permissions Violation for Publish to "pauses.worker.low"/,
      );
    }
    expect(violations(stack)).toEqual([]);
  });
});
