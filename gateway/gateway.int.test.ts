// The gateway against real nats-server and redis-server, called through a real gRPC client
// generated from proto/taskmanager.proto.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import * as grpc from '@grpc/grpc-js';
import { context, propagation, trace } from '@opentelemetry/api';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEnvReader, DEFAULT_REDIS_KEY_PREFIX, readFlowSettings } from '../shared/config';
import { EVENT_TYPES, KEYS, SUBJECTS, type StatusUpdate, type TaskEnvelope } from '../shared/contract';
import { EVENT_IDS } from '../shared/emit';
import { BacklogFullError, DependencyUnavailableError } from '../shared/errors';
import { createLogger } from '../shared/logger';
import { type Publisher } from '../shared/nats';
import { setupFlow } from '../shared/flow-setup';
import { connectRedis, toChannel, type Redis } from '../shared/redis';
import { applyStatus } from '../shared/status';
import { collectEvents, type EventCollector } from '../test/helpers/events';
import { waitFor } from '../test/helpers/ports';
import { startNatsServer, startRedisServer, type TestServer } from '../test/helpers/servers';
import { loadGatewayConfig } from './config';
import { startGateway, type RunningGateway } from './server';
import { toTaskFields } from '../shared/task-record';
import {
  checkHealth,
  createTaskManagerClient,
  listServices,
  readStream,
  rejection,
  type TaskManagerClient,
} from './test-support/grpc-client';

const logger = createLogger('gateway-test', 'silent');

let natsServer: TestServer;
let redisServer: TestServer;
let nc: NatsConnection;
let redis: Redis;
let gateway: RunningGateway;
let client: TaskManagerClient;
let ingest: EventCollector;
let provider: NodeTracerProvider;
const spans = new InMemorySpanExporter();

function configFor(env: Record<string, string> = {}) {
  return loadGatewayConfig(
    { PORT: '0', NATS_URL: natsServer.url, REDIS_URL: redisServer.url, TM_SHUTDOWN_GRACE_MS: '1000', ...env },
    { cwd: process.cwd() },
  );
}

beforeAll(async () => {
  // A tracer provider, W3C propagation and async context, as the telemetry bootstrap installs.
  provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  provider.register();
  [natsServer, redisServer] = await Promise.all([startNatsServer(), startRedisServer()]);
  nc = await connect({ servers: natsServer.url });
  await setupFlow(nc, readFlowSettings(createEnvReader({})), logger);
  redis = await connectRedis({ url: redisServer.url, keyPrefix: DEFAULT_REDIS_KEY_PREFIX, name: 'test', logger });
  gateway = await startGateway(configFor(), logger);
  client = createTaskManagerClient(`127.0.0.1:${gateway.port}`);
  ingest = collectEvents(nc, SUBJECTS.ingest);
});

afterAll(async () => {
  ingest?.stop();
  client?.close();
  await gateway?.stop();
  await nc?.close();
  redis?.disconnect();
  await natsServer?.stop();
  await redisServer?.stop();
  await provider?.shutdown();
  trace.disable();
  propagation.disable();
  context.disable();
});

const eventsFor = (taskId: string) => ingest.events.filter((event) => event.subject === taskId);

async function setStatus(taskId: string, state: StatusUpdate['state'], attempt = 0): Promise<number> {
  return applyStatus(redis, { taskId, state, stage: 'test', attempt, message: `now ${state}`, progress: 0, updatedAtMs: Date.now() });
}

describe('SubmitTask', () => {
  it('stores the task, marks it QUEUED and publishes one submitted event carrying the caller trace', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const metadata = new grpc.Metadata();
    metadata.set('traceparent', `00-${traceId}-00f067aa0ba902b7-01`);
    const response = await client.submitTask(
      { type: 'echo', payload: '{"hello":"world"}', priority: 'PRIORITY_HIGH', metadata: { origin: 'test' }, delay_ms: 1_000, max_attempts: 3 },
      metadata,
    );
    expect(response).toMatchObject({ state: 'QUEUED', duplicate: false });
    const id = response.task_id;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    const stored = await redis.hgetall(KEYS.task(id));
    expect(stored).toMatchObject({ task_id: id, type: 'echo', payload: '{"hello":"world"}', priority: 'high', max_attempts: '3', tenant: 'default' });
    expect(JSON.parse(stored.metadata!)).toEqual({ origin: 'test' });
    expect(Number(stored.not_before_ms) - Number(stored.created_at_ms)).toBe(1_000);
    expect(await redis.hgetall(KEYS.status(id))).toMatchObject({ state: 'QUEUED', stage: 'gateway', seq: '1', updated_at_ms: stored.created_at_ms });
    const history = (await redis.lrange(KEYS.history(id), 0, -1)).map((json) => JSON.parse(json) as unknown);
    expect(history).toEqual([{ seq: 1, state: 'QUEUED', stage: 'gateway', attempt: 0, message: '', progress: 0, updatedAtMs: Number(stored.created_at_ms) }]);
    expect(await redis.zscore(KEYS.activeTasks, id)).toBe(stored.created_at_ms);

    const [event] = await waitFor('the submitted event', () => eventsFor(id).length > 0 && eventsFor(id));
    expect(eventsFor(id)).toHaveLength(1);
    expect(event).toMatchObject({ id: EVENT_IDS.submitted(id), type: EVENT_TYPES.submitted, source: '/taskmanager/gateway', subject: id });
    const data = event!.data as TaskEnvelope;
    expect(data).toMatchObject({ taskId: id, type: 'echo', priority: 'high', maxAttempts: 3, metadata: { origin: 'test' } });
    expect(data.notBeforeMs - data.createdAtMs).toBe(1_000);
    expect(event!.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    expect(event!.traceparent).not.toContain('00f067aa0ba902b7');
    const submitSpan = spans.getFinishedSpans().find((span) => span.name === 'SubmitTask' && span.spanContext().traceId === traceId);
    expect(submitSpan).toBeDefined();
  });

  it('returns the same id with duplicate=true for a repeated idempotency key and publishes once', async () => {
    const request = { type: 'echo', payload: '{}', idempotency_key: `order-${Date.now()}` };
    const first = await client.submitTask(request);
    await setStatus(first.task_id, 'VALIDATED');
    const second = await client.submitTask({ ...request, payload: '{"different":true}' });
    expect(second).toEqual({ task_id: first.task_id, state: 'VALIDATED', duplicate: true });
    await waitFor('the first event', () => eventsFor(first.task_id).length === 1);
    // A later publish would have arrived by the time a fresh task's event does.
    const marker = await client.submitTask({ type: 'echo', payload: '{}' });
    await waitFor('a later event', () => eventsFor(marker.task_id).length === 1);
    expect(eventsFor(first.task_id)).toHaveLength(1);
    expect(await redis.hget(KEYS.task(first.task_id), 'payload')).toBe('{}');
  });

  /** A task and its idempotency key with no status: what a gateway that died after storing the
   * task, and before writing QUEUED and publishing, left behind (gateways before the one-script
   * submit wrote them in two steps). */
  async function storeWithoutStatus(envelope: TaskEnvelope, key: string): Promise<void> {
    await redis.multi().set(KEYS.idempotency('default', key), envelope.taskId, 'EX', 3600).hset(KEYS.task(envelope.taskId), ...toTaskFields(envelope)).exec();
  }

  it('publishes on a retried key a task whose first submission died before its PubAck', async () => {
    const key = `orphan-${Date.now()}`;
    const id = `orphan-task-${Date.now()}`;
    const createdAtMs = Date.now() - 60_000;
    const envelope: TaskEnvelope = {
      taskId: id, type: 'echo', payload: '[1]', priority: 'low', metadata: {}, maxAttempts: 5, createdAtMs, notBeforeMs: 0, tenant: 'default',
    };
    await storeWithoutStatus(envelope, key);

    const response = await client.submitTask({ type: 'echo', payload: '[1]', idempotency_key: key });
    expect(response).toEqual({ task_id: id, state: 'QUEUED', duplicate: true });
    await waitFor('the recovered event', () => eventsFor(id).length === 1);
    expect(eventsFor(id)[0]!.data).toMatchObject({ taskId: id, createdAtMs, priority: 'low' });
    expect(await redis.hget(KEYS.status(id), 'state')).toBe('QUEUED');
    expect(await redis.hget(KEYS.task(id), 'published_at_ms')).toBeTruthy();
  });

  it('answers UNAVAILABLE for a retried key while the first submission may still be in flight', async () => {
    const key = `inflight-${Date.now()}`;
    const id = `inflight-task-${Date.now()}`;
    const envelope: TaskEnvelope = {
      taskId: id, type: 'echo', payload: '1', priority: 'medium', metadata: {}, maxAttempts: 5, createdAtMs: Date.now(), notBeforeMs: 0, tenant: 'default',
    };
    await storeWithoutStatus(envelope, key);
    const error = await rejection(client.submitTask({ type: 'echo', payload: '1', idempotency_key: key }));
    expect(error.code).toBe(grpc.status.UNAVAILABLE);
    expect(error.details).toMatch(/^service unavailable.*idempotency_key: .*still in progress/);
    expect(eventsFor(id)).toHaveLength(0);
  });

  const invalidRequests: [string, Record<string, unknown>, string][] = [
    ['missing type', { type: '', payload: '{}' }, 'type'],
    ['type with a wildcard', { type: 'echo.>', payload: '{}' }, 'type'],
    ['type with CRLF', { type: 'echo\r\n', payload: '{}' }, 'type'],
    ['payload not JSON', { type: 'echo', payload: '{oops' }, 'payload'],
    ['empty payload', { type: 'echo', payload: '' }, 'payload'],
    ['payload over the limit', { type: 'echo', payload: JSON.stringify('x'.repeat(300 * 1024)) }, 'payload'],
    ['unknown priority', { type: 'echo', payload: '{}', priority: 9 }, 'priority'],
    ['idempotency key with CRLF', { type: 'echo', payload: '{}', idempotency_key: 'a\r\nb' }, 'idempotency_key'],
    ['metadata key with a space', { type: 'echo', payload: '{}', metadata: { 'bad key': 'v' } }, 'metadata'],
    ['metadata timeout_ms not a number', { type: 'echo', payload: '{}', metadata: { timeout_ms: 'soon' } }, 'metadata.timeout_ms'],
    ['negative delay', { type: 'echo', payload: '{}', delay_ms: -1 }, 'delay_ms'],
    ['delay over 30 days', { type: 'echo', payload: '{}', delay_ms: 30 * 24 * 3600 * 1000 + 1 }, 'delay_ms'],
    ['max_attempts 6', { type: 'echo', payload: '{}', max_attempts: 6 }, 'max_attempts'],
    ['max_attempts -1', { type: 'echo', payload: '{}', max_attempts: -1 }, 'max_attempts'],
  ];

  it.each(invalidRequests)('refuses %s with INVALID_ARGUMENT naming the field, writing and publishing nothing', async (_name, request, field) => {
    const keysBefore = await redis.dbsize();
    const eventsBefore = ingest.events.length;
    const error = await rejection(client.submitTask(request));
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details.startsWith(`${field}: `)).toBe(true);
    // Anything published would have reached the collector before this task's event.
    const marker = await client.submitTask({ type: 'echo', payload: '{}' });
    await waitFor('the marker event', () => eventsFor(marker.task_id).length === 1);
    expect(ingest.events.length).toBe(eventsBefore + 1);
    // The marker adds its task, status and history keys.
    expect(await redis.dbsize()).toBe(keysBefore + 3);
  });

  it('removes what it wrote and answers UNAVAILABLE or RESOURCE_EXHAUSTED when the publish fails', async () => {
    const failures: [Error, grpc.status][] = [
      [new DependencyUnavailableError('nats went away'), grpc.status.UNAVAILABLE],
      [new BacklogFullError('maximum messages exceeded'), grpc.status.RESOURCE_EXHAUSTED],
    ];
    for (const [failure, code] of failures) {
      let attempted = '';
      const publisher: Publisher = {
        async publish(_subject, event) {
          attempted = String(event.subject);
          throw failure;
        },
      };
      const failing = await startGateway(configFor(), logger, { publisher });
      const failingClient = createTaskManagerClient(`127.0.0.1:${failing.port}`);
      try {
        const key = `rollback-${code}-${Date.now()}`;
        const error = await rejection(failingClient.submitTask({ type: 'echo', payload: '{}', idempotency_key: key }));
        expect(error.code).toBe(code);
        expect(attempted).not.toBe('');
        const left = await redis.exists(KEYS.task(attempted), KEYS.status(attempted), KEYS.history(attempted), KEYS.idempotency('default', key));
        expect(left).toBe(0);
      } finally {
        failingClient.close();
        await failing.stop();
      }
    }
  });
});

describe('GetTask, GetResult and CancelTask', () => {
  it('GetTask returns metadata, current status and history', async () => {
    const { task_id: id } = await client.submitTask({ type: 'hash', payload: '{"data":"x"}', metadata: { timeout_ms: '500' } });
    await setStatus(id, 'VALIDATED');
    await setStatus(id, 'RUNNING', 2);
    const task = await client.getTask(id);
    expect(task).toMatchObject({ task_id: id, type: 'hash', payload: '{"data":"x"}', priority: 'PRIORITY_MEDIUM', metadata: { timeout_ms: '500' }, attempts: 2 });
    expect(task.status).toMatchObject({ state: 'RUNNING', attempt: 2, seq: 3 });
    expect(task.history.map((entry) => [entry.seq, entry.state])).toEqual([[1, 'QUEUED'], [2, 'VALIDATED'], [3, 'RUNNING']]);
  });

  it('answers NOT_FOUND for unknown ids and INVALID_ARGUMENT for malformed ones', async () => {
    expect((await rejection(client.getTask('no-such-task'))).code).toBe(grpc.status.NOT_FOUND);
    expect((await rejection(client.getResult('no-such-task'))).details).toMatch(/not found/);
    expect((await rejection(client.cancelTask('no-such-task'))).code).toBe(grpc.status.NOT_FOUND);
    const malformed = await rejection(client.getTask('a*b'));
    expect(malformed.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(malformed.details).toMatch(/^task_id: /);
  });

  it('GetResult says NOT_FOUND while there is no result, then returns the stored one', async () => {
    const { task_id: id } = await client.submitTask({ type: 'echo', payload: '{"a":1}' });
    const missing = await rejection(client.getResult(id));
    expect(missing.code).toBe(grpc.status.NOT_FOUND);
    expect(missing.details).toMatch(/no result yet/);
    const stored = { taskId: id, state: 'SUCCEEDED', output: '{"a":1}', error: '', attempts: 1, startedAtMs: 10, finishedAtMs: 20 };
    await redis.storeResult(KEYS.result(id), JSON.stringify(stored), 1, 60);
    expect(await client.getResult(id)).toEqual({
      task_id: id, state: 'SUCCEEDED', output: '{"a":1}', error: '', attempts: 1, started_at_ms: 10, finished_at_ms: 20,
    });
  });

  it('cancels a queued task, tells workers, then refuses to cancel it again', async () => {
    const { task_id: id } = await client.submitTask({ type: 'sleep', payload: '{"ms":1000}' });
    const listener = redis.duplicate({ enableOfflineQueue: true });
    const cancelled: string[] = [];
    listener.on('message', (_channel: string, message: string) => cancelled.push(message));
    await listener.subscribe(toChannel(redis, KEYS.cancelChannel));
    const audit = collectEvents(nc, SUBJECTS.audit);
    try {
      expect(await client.cancelTask(id)).toEqual({ task_id: id, state: 'CANCELLED' });
      expect(await redis.hgetall(KEYS.status(id))).toMatchObject({ state: 'CANCELLED', stage: 'gateway', message: 'cancelled by client', seq: '2' });
      await waitFor('the cancel message', () => cancelled.includes(id));
      await waitFor('the audit event', () => audit.events.some((event) => event.subject === id));
      const again = await rejection(client.cancelTask(id));
      expect(again.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(again.details).toMatch(/CANCELLED/);
    } finally {
      audit.stop();
      listener.disconnect();
    }
  });

  it('refuses to cancel a task that already succeeded', async () => {
    const { task_id: id } = await client.submitTask({ type: 'echo', payload: '{}' });
    await setStatus(id, 'SUCCEEDED', 1);
    const error = await rejection(client.cancelTask(id));
    expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(error.details).toMatch(/SUCCEEDED/);
    expect(await redis.hget(KEYS.status(id), 'state')).toBe('SUCCEEDED');
  });
});

describe('StreamStatus', () => {
  const LIFECYCLE = ['VALIDATED', 'ENRICHED', 'SCHEDULED', 'RUNNING', 'SUCCEEDED'] as const;

  async function runLifecycle(id: string) {
    for (const state of LIFECYCLE) await setStatus(id, state, state === 'RUNNING' || state === 'SUCCEEDED' ? 1 : 0);
  }

  it('sends the current state first, then every change in order, and ends after the terminal state', async () => {
    const { task_id: id } = await client.submitTask({ type: 'echo', payload: '{}' });
    await setStatus(id, 'VALIDATED');
    const stream = client.streamStatus({ task_id: id });
    const outcome = readStream(stream);
    const first = await new Promise((resolve) => stream.once('data', resolve));
    expect(first).toMatchObject({ task_id: id, state: 'VALIDATED', seq: 2 });
    for (const state of LIFECYCLE.slice(1)) await setStatus(id, state, state === 'RUNNING' || state === 'SUCCEEDED' ? 1 : 0);
    const { updates, ended, error } = await outcome;
    expect(error).toBeUndefined();
    expect(ended).toBe(true);
    expect(updates.map((u) => [u.seq, u.state])).toEqual([
      [2, 'VALIDATED'], [3, 'ENRICHED'], [4, 'SCHEDULED'], [5, 'RUNNING'], [6, 'SUCCEEDED'],
    ]);
    expect(updates[3]).toMatchObject({ stage: 'test', attempt: 1, message: 'now RUNNING' });
  });

  it('replays the whole history with after_seq=0 on a finished task, and resumes after a given seq', async () => {
    const { task_id: id } = await client.submitTask({ type: 'echo', payload: '{}' });
    await runLifecycle(id);
    const whole = await readStream(client.streamStatus({ task_id: id, after_seq: 0 }));
    expect(whole.ended).toBe(true);
    expect(whole.updates.map((u) => u.state)).toEqual(['QUEUED', ...LIFECYCLE]);
    expect(whole.updates.map((u) => u.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    const resumed = await readStream(client.streamStatus({ task_id: id, after_seq: 3 }));
    expect(resumed.updates.map((u) => u.seq)).toEqual([4, 5, 6]);
    const snapshot = await readStream(client.streamStatus({ task_id: id }));
    expect(snapshot.updates.map((u) => u.state)).toEqual(['SUCCEEDED']);
  });

  it('resumes a live task from after_seq and then follows it', async () => {
    const { task_id: id } = await client.submitTask({ type: 'echo', payload: '{}' });
    await setStatus(id, 'VALIDATED');
    await setStatus(id, 'ENRICHED');
    const stream = client.streamStatus({ task_id: id, after_seq: 1 });
    const outcome = readStream(stream);
    const seen: number[] = [];
    stream.on('data', (u: { seq: number }) => seen.push(u.seq));
    await waitFor('the replayed history', () => seen.length === 2);
    await setStatus(id, 'SCHEDULED');
    await setStatus(id, 'FAILED', 1);
    const { updates, ended } = await outcome;
    expect(ended).toBe(true);
    expect(updates.map((u) => [u.seq, u.state])).toEqual([[2, 'VALIDATED'], [3, 'ENRICHED'], [4, 'SCHEDULED'], [5, 'FAILED']]);
  });

  it('answers NOT_FOUND for an unknown task and releases its subscription', async () => {
    const { error } = await readStream(client.streamStatus({ task_id: 'missing-task' }));
    expect(error?.code).toBe(grpc.status.NOT_FOUND);
    await waitFor('no subscriptions', () => gateway.hub.subscriptionCount() === 0);
    const bad = await readStream(client.streamStatus({ task_id: 'x', after_seq: -2 }));
    expect(bad.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.error?.details).toMatch(/^after_seq: /);
  });

  it('serves 50 concurrent streams of one task through one Redis subscription and releases it when clients cancel', async () => {
    const { task_id: id } = await client.submitTask({ type: 'echo', payload: '{}' });
    const streams = Array.from({ length: 50 }, () => client.streamStatus({ task_id: id }));
    const received = streams.map(() => [] as string[]);
    streams.forEach((stream, index) => {
      stream.on('data', (u: { state: string }) => received[index]!.push(u.state));
      stream.on('error', () => undefined);
    });
    await waitFor('every stream to get the current state', () => received.every((states) => states[0] === 'QUEUED'));
    expect(gateway.hub.subscriptionCount()).toBe(1);
    expect(gateway.hub.listenerCount()).toBe(50);
    const subscribed = (await redis.client('LIST') as string).split('\n').filter((line) => /\bsub=[1-9]/.test(line));
    expect(subscribed).toHaveLength(1);
    expect(await redis.pubsub('NUMSUB', toChannel(redis, KEYS.statusChannel(id)))).toEqual([toChannel(redis, KEYS.statusChannel(id)), 1]);

    await setStatus(id, 'VALIDATED');
    await waitFor('the change to reach every stream', () => received.every((states) => states[1] === 'VALIDATED'));

    for (const stream of streams) stream.cancel();
    await waitFor('the hub to release the channel', () => gateway.hub.subscriptionCount() === 0 && gateway.hub.listenerCount() === 0);
    await waitFor('redis to drop the subscription', async () => {
      const [, count] = (await redis.pubsub('NUMSUB', toChannel(redis, KEYS.statusChannel(id)))) as [string, number];
      return count === 0;
    });
  });
});

describe('health and reflection', () => {
  it('reports SERVING and lists the TaskManager service', async () => {
    const address = `127.0.0.1:${gateway.port}`;
    expect(await checkHealth(address)).toBe('SERVING');
    expect(await checkHealth(address, 'taskmanager.v1.TaskManager')).toBe('SERVING');
    const services = await listServices(address);
    expect(services).toContain('taskmanager.v1.TaskManager');
    expect(services).toContain('grpc.health.v1.Health');
  });
});
