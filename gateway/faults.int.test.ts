// The gateway when NATS or Redis goes away, and when the TASKS stream is full: the client gets
// UNAVAILABLE / RESOURCE_EXHAUSTED, nothing is left half-written, and service resumes when the
// server is back.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEnvReader, DEFAULT_REDIS_KEY_PREFIX, readFlowSettings } from '../shared/config';
import { KEYS, SUBJECTS, type StatusUpdate } from '../shared/contract';
import { createLogger } from '../shared/logger';
import { setupFlow } from '../shared/flow-setup';
import { connectRedis, toChannel, type Redis } from '../shared/redis';
import { applyStatus } from '../shared/status';
import { collectEvents } from '../test/helpers/events';
import { waitFor } from '../test/helpers/ports';
import { keysMatching } from '../test/helpers/redis-keys';
import { startNatsServer, startRedisServer, type TestServer } from '../test/helpers/servers';
import { loadGatewayConfig } from './config';
import { startGateway, type RunningGateway } from './server';
import { checkHealth, createTaskManagerClient, readStream, rejection, type TaskManagerClient } from './test-support/grpc-client';

const logger = createLogger('gateway-faults-test', process.env.GW_DEBUG ? 'debug' : 'silent');

type Setup = {
  natsServer: TestServer;
  redisServer: TestServer;
  nc: NatsConnection;
  redis: Redis;
  gateway: RunningGateway;
  client: TaskManagerClient;
  address: string;
};

async function setUp(flowEnv: Record<string, string> = {}): Promise<Setup> {
  const [natsServer, redisServer] = await Promise.all([startNatsServer(), startRedisServer({ appendOnly: true })]);
  const nc = await connect({ servers: natsServer.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  await setupFlow(nc, readFlowSettings(createEnvReader(flowEnv)), logger);
  const redis = await connectRedis({ url: redisServer.url, keyPrefix: DEFAULT_REDIS_KEY_PREFIX, name: 'test', logger });
  let next = 0;
  const config = loadGatewayConfig(
    { PORT: '0', NATS_URL: natsServer.url, REDIS_URL: redisServer.url, TM_SHUTDOWN_GRACE_MS: '1000' },
    { cwd: process.cwd() },
  );
  const gateway = await startGateway(config, logger, { newId: () => `task-${++next}` });
  const address = `127.0.0.1:${gateway.port}`;
  return { natsServer, redisServer, nc, redis, gateway, client: createTaskManagerClient(address), address };
}

async function tearDown(setup: Setup | undefined): Promise<void> {
  if (!setup) return;
  setup.client.close();
  await setup.gateway.stop();
  await setup.nc.close();
  setup.redis.disconnect();
  await setup.natsServer.stop();
  await setup.redisServer.stop();
}

const taskKeys = (redis: Redis) => keysMatching(redis, 'task*');
const health = (address: string) => checkHealth(address).catch(() => 'UNREACHABLE');

describe('when a dependency goes away', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setUp();
  });
  afterAll(() => tearDown(s));

  it('with NATS stopped, SubmitTask answers UNAVAILABLE, writes nothing, and works again after NATS restarts', async () => {
    const before = await taskKeys(s.redis);
    s.natsServer.kill('SIGKILL');
    await waitFor('health NOT_SERVING', async () => (await health(s.address)) === 'NOT_SERVING');

    const error = await rejection(s.client.submitTask({ type: 'echo', payload: '{}', idempotency_key: 'during-nats-outage' }));
    expect(error.code).toBe(grpc.status.UNAVAILABLE);
    expect(error.details).toMatch(/nats/);
    expect((await taskKeys(s.redis)).sort()).toEqual(before.sort());
    expect(await s.redis.exists(KEYS.idempotency('default', 'during-nats-outage'))).toBe(0);

    await s.natsServer.restart();
    await waitFor('health SERVING', async () => (await health(s.address)) === 'SERVING');
    const ingest = collectEvents(s.nc, SUBJECTS.ingest);
    try {
      await waitFor('the test connection to be back', () => !s.nc.isClosed() && s.nc.info !== undefined);
      const { task_id: id } = await s.client.submitTask({ type: 'echo', payload: '{}', idempotency_key: 'during-nats-outage' });
      await waitFor('the submitted event', () => ingest.events.some((event) => event.subject === id));
    } finally {
      ingest.stop();
    }
  });

  it('with Redis stopped, calls answer UNAVAILABLE and publish nothing; an open stream carries on after Redis restarts', async () => {
    const { task_id: id } = await s.client.submitTask({ type: 'echo', payload: '{}' });
    const stream = s.client.streamStatus({ task_id: id });
    const outcome = readStream(stream);
    await new Promise((resolve) => stream.once('data', resolve));
    const ingest = collectEvents(s.nc, SUBJECTS.ingest);

    s.redisServer.kill('SIGKILL');
    await waitFor('health NOT_SERVING', async () => (await health(s.address)) === 'NOT_SERVING');
    try {
      const submit = await rejection(s.client.submitTask({ type: 'echo', payload: '{}' }));
      expect(submit.code).toBe(grpc.status.UNAVAILABLE);
      expect((await rejection(s.client.getTask(id))).code).toBe(grpc.status.UNAVAILABLE);
      const other = await readStream(s.client.streamStatus({ task_id: id }));
      expect(other.error?.code).toBe(grpc.status.UNAVAILABLE);
      // Give a stray publish time to arrive: a round trip through NATS after the calls above.
      await s.nc.flush();
      expect(ingest.events).toHaveLength(0);
    } finally {
      ingest.stop();
    }

    await s.redisServer.restart();
    await waitFor('health SERVING', async () => (await health(s.address)) === 'SERVING');
    await waitFor('the hub to resubscribe', async () => {
      const [, count] = (await s.redis.pubsub('NUMSUB', toChannel(s.redis, KEYS.statusChannel(id)))) as [string, number];
      return count === 1;
    });
    const update = (state: StatusUpdate['state']) =>
      applyStatus(s.redis, { taskId: id, state, stage: 'test', attempt: 1, message: '', progress: 0, updatedAtMs: Date.now() });
    await update('VALIDATED');
    await update('SUCCEEDED');
    const { updates, ended } = await outcome;
    expect(ended).toBe(true);
    expect(updates.map((u) => [u.seq, u.state])).toEqual([[1, 'QUEUED'], [2, 'VALIDATED'], [3, 'SUCCEEDED']]);
  });
});

describe('when the TASKS stream is full', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setUp({ TM_STREAM_MAX_MSGS: '3' });
  });
  afterAll(() => tearDown(s));

  it('answers RESOURCE_EXHAUSTED and removes the refused task', async () => {
    for (let i = 0; i < 3; i += 1) await s.client.submitTask({ type: 'echo', payload: `${i}` });
    const error = await rejection(s.client.submitTask({ type: 'echo', payload: '{}', idempotency_key: 'refused' }));
    expect(error.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(await s.redis.exists(KEYS.task('task-4'), KEYS.status('task-4'), KEYS.history('task-4'), KEYS.idempotency('default', 'refused'))).toBe(0);
    expect(await s.redis.exists(KEYS.task('task-3'))).toBe(1);
  });
});
