// API keys and tenant isolation on the real gateway (real nats-server and redis-server), called
// through the client library (client/client.ts, option `token`) and a raw gRPC client.
// acme's key comes from TM_API_KEYS, globex's from the mounted file TM_API_KEYS_FILE.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskManagerClient, TaskManagerClientError, type TaskManagerClient } from '../client/client';
import { createEnvReader, DEFAULT_REDIS_KEY_PREFIX, readFlowSettings } from '../shared/config';
import { KEYS, SUBJECTS, type TaskEnvelope } from '../shared/contract';
import { createLogger } from '../shared/logger';
import { setupFlow } from '../shared/flow-setup';
import { connectRedis, type Redis } from '../shared/redis';
import { collectEvents, type EventCollector } from '../test/helpers/events';
import { waitFor } from '../test/helpers/ports';
import { startNatsServer, startRedisServer, type TestServer } from '../test/helpers/servers';
import { loadGatewayConfig } from './config';
import { startGateway, type RunningGateway } from './server';
import { checkHealth, listServices } from './test-support/grpc-client';

const ACME_KEY = 'acme-0123456789-abcdefghij';
const GLOBEX_KEY = 'globex-9876543210-zyxwvutsrq';
const logger = createLogger('auth-test', 'silent');
/** What the gateway logs at warn and above, one JSON line each. */
const gatewayLines: string[] = [];
const gatewayLogger = createLogger('gateway', 'warn', { write: (line) => gatewayLines.push(line.trimEnd()) });

let natsServer: TestServer;
let redisServer: TestServer;
let nc: NatsConnection;
let redis: Redis;
let gateway: RunningGateway;
let ingest: EventCollector;
let keyDir: string;
let address: string;
const clients: TaskManagerClient[] = [];

function clientWith(token?: string): TaskManagerClient {
  const client = createTaskManagerClient({ address, ...(token === undefined ? {} : { token }), watchRetry: { retries: 0 } });
  clients.push(client);
  return client;
}

async function failure(promise: Promise<unknown>): Promise<TaskManagerClientError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(TaskManagerClientError);
    return error as TaskManagerClientError;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

async function watchFailure(client: TaskManagerClient, taskId: string): Promise<TaskManagerClientError> {
  return failure(
    (async () => {
      for await (const update of client.watch(taskId)) void update;
    })(),
  );
}

let acme: TaskManagerClient;
let globex: TaskManagerClient;

beforeAll(async () => {
  [natsServer, redisServer] = await Promise.all([startNatsServer(), startRedisServer()]);
  nc = await connect({ servers: natsServer.url });
  await setupFlow(nc, readFlowSettings(createEnvReader({})), logger);
  redis = await connectRedis({ url: redisServer.url, keyPrefix: DEFAULT_REDIS_KEY_PREFIX, name: 'auth-test', logger });
  keyDir = mkdtempSync(join(tmpdir(), 'tm-keys-'));
  const keyFile = join(keyDir, 'api-keys');
  writeFileSync(keyFile, `# mounted secret: tenant:key per line\nglobex:${GLOBEX_KEY}\n`);
  const config = loadGatewayConfig(
    {
      PORT: '0',
      NATS_URL: natsServer.url,
      REDIS_URL: redisServer.url,
      TM_SHUTDOWN_GRACE_MS: '1000',
      TM_API_KEYS: `acme:${ACME_KEY}`,
      TM_API_KEYS_FILE: keyFile,
    },
    { cwd: process.cwd() },
  );
  gateway = await startGateway(config, gatewayLogger);
  address = `127.0.0.1:${gateway.port}`;
  ingest = collectEvents(nc, SUBJECTS.ingest);
  acme = clientWith(ACME_KEY);
  globex = clientWith(GLOBEX_KEY);
});

afterAll(async () => {
  ingest?.stop();
  for (const client of clients) client.close();
  await gateway?.stop();
  await nc?.close();
  redis?.disconnect();
  await natsServer?.stop();
  await redisServer?.stop();
  if (keyDir) rmSync(keyDir, { recursive: true, force: true });
});

describe('API keys', () => {
  // First, while this Redis is still empty, so "nothing written" is exact.
  it('without a valid key every TaskManager RPC answers UNAUTHENTICATED and writes nothing', async () => {
    expect(await redis.dbsize()).toBe(0);
    const callers = [
      { client: clientWith(), reason: /missing API key/ },
      { client: clientWith('not-the-right-key-at-all'), reason: /invalid API key/ },
      { client: clientWith(`${ACME_KEY} ${ACME_KEY}`), reason: /malformed "authorization" metadata/ },
    ];
    for (const { client, reason } of callers) {
      const errors = [
        await failure(client.submit({ type: 'echo', payload: { x: 1 }, idempotencyKey: 'never-stored' })),
        await failure(client.getTask('00000000-0000-4000-8000-000000000000')),
        await failure(client.getResult('00000000-0000-4000-8000-000000000000')),
        await failure(client.cancel('00000000-0000-4000-8000-000000000000')),
        await watchFailure(client, '00000000-0000-4000-8000-000000000000'),
      ];
      for (const error of errors) {
        expect(error.code).toBe('UNAUTHENTICATED');
        expect(error.details).toMatch(reason);
      }
    }
    expect(await redis.dbsize()).toBe(0);
    // A published event would have reached the collector by the time a real submit's does.
    const marker = await acme.submit({ type: 'echo', payload: {} });
    await waitFor('the marker event', () => ingest.events.some((event) => event.subject === marker.taskId));
    expect(ingest.events.map((event) => event.subject)).toEqual([marker.taskId]);
  });

  it('a refused call is logged at warn with the caller\'s address and the reason, never the key', async () => {
    gatewayLines.length = 0;
    const wrongKey = 'not-the-right-key-at-all-0123';
    await failure(clientWith().getTask('00000000-0000-4000-8000-000000000000'));
    await failure(clientWith(wrongKey).getTask('00000000-0000-4000-8000-000000000000'));
    await failure(clientWith(`${ACME_KEY} ${ACME_KEY}`).getTask('00000000-0000-4000-8000-000000000000'));
    const refused = gatewayLines
      .map((line) => JSON.parse(line) as { level: number; msg: string; peer?: string; reason?: string; rpc?: string })
      .filter((entry) => entry.msg === 'call refused: unauthenticated');
    expect(refused.map((entry) => entry.reason)).toEqual(['missing header', 'unknown key', 'malformed header']);
    for (const entry of refused) {
      expect(entry.level).toBe(40);
      expect(entry.rpc).toBe('/taskmanager.v1.TaskManager/GetTask');
      expect(entry.peer).toMatch(/127\.0\.0\.1:\d+/);
    }
    expect(gatewayLines.join('\n')).not.toContain(wrongKey);
    expect(gatewayLines.join('\n')).not.toContain(ACME_KEY);
  });

  it('a caller without a key cannot cancel an existing task', async () => {
    const { taskId } = await acme.submit({ type: 'sleep', payload: { ms: 10 }, delayMs: 60_000 });
    const error = await failure(clientWith().cancel(taskId));
    expect(error.code).toBe('UNAUTHENTICATED');
    expect((await acme.getTask(taskId)).status?.state).toBe('QUEUED');
  });

  it('health answers without a key; reflection needs one', async () => {
    expect(await checkHealth(address)).toBe('SERVING');
    const refused = await listServices(address).then(
      () => undefined,
      (error: grpc.ServiceError) => error,
    );
    expect(refused?.code).toBe(grpc.status.UNAUTHENTICATED);
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${ACME_KEY}`);
    expect(await listServices(address, metadata)).toContain('taskmanager.v1.TaskManager');
  });
});

describe('tenants', () => {
  it('a key from TM_API_KEYS_FILE works and its tenant is stored with the task and sent in the envelope', async () => {
    const { taskId } = await globex.submit({ type: 'echo', payload: { from: 'file key' } });
    expect(await redis.hget(KEYS.task(taskId), 'tenant')).toBe('globex');
    const event = await waitFor('the submitted event', () => ingest.events.find((candidate) => candidate.subject === taskId));
    expect((event.data as TaskEnvelope).tenant).toBe('globex');
    expect((await globex.getTask(taskId)).taskId).toBe(taskId);
  });

  it("tenant B cannot get, stream, read the result of or cancel tenant A's task: NOT_FOUND, as for an unknown id", async () => {
    const { taskId } = await acme.submit({ type: 'sleep', payload: { ms: 10 }, delayMs: 60_000 });
    // A stored result (as the result-store writes it), so GetResult has something to hide.
    await redis.hset(KEYS.result(taskId), 'json', JSON.stringify({ state: 'SUCCEEDED', output: '{"secret":true}', attempts: 1 }), 'attempt', '1');
    const unknownId = '11111111-1111-4111-8111-111111111111';
    const asUnknown = async (call: (id: string) => Promise<TaskManagerClientError>) => {
      const theirs = await call(taskId);
      const unknown = await call(unknownId);
      expect(theirs.code).toBe('NOT_FOUND');
      expect(theirs.details.replace(taskId, '<id>')).toBe(unknown.details.replace(unknownId, '<id>'));
    };
    await asUnknown((id) => failure(globex.getTask(id)));
    await asUnknown((id) => failure(globex.getResult(id)));
    await asUnknown((id) => failure(globex.cancel(id)));
    await asUnknown((id) => watchFailure(globex, id));

    // The owner still sees everything, and the task was not cancelled by the other tenant.
    expect((await acme.getTask(taskId)).status?.state).toBe('QUEUED');
    expect((await acme.getResult(taskId)).state).toBe('SUCCEEDED');
    const updates = [];
    const controller = new AbortController();
    for await (const update of acme.watch(taskId, { signal: controller.signal })) {
      updates.push(update);
      controller.abort();
    }
    expect(updates.map((update) => update.state)).toEqual(['QUEUED']);
    expect((await acme.cancel(taskId)).state).toBe('CANCELLED');
  });

  it('the same idempotency key in two tenants gives two tasks', async () => {
    const key = `order-${Date.now()}`;
    const first = await acme.submit({ type: 'echo', payload: { n: 1 }, idempotencyKey: key });
    const other = await globex.submit({ type: 'echo', payload: { n: 2 }, idempotencyKey: key });
    expect(other.taskId).not.toBe(first.taskId);
    expect(other.duplicate).toBe(false);
    const again = await acme.submit({ type: 'echo', payload: { n: 3 }, idempotencyKey: key });
    expect(again).toMatchObject({ taskId: first.taskId, duplicate: true });
    expect(await redis.get(KEYS.idempotency('acme', key))).toBe(first.taskId);
    expect(await redis.get(KEYS.idempotency('globex', key))).toBe(other.taskId);
  });
});
