// The worker in-process against a real nats-server and redis-server: binary-mode deliveries as
// the source sends them, the events it publishes, and cancellation through the Redis channel.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEnvReader, DEFAULT_REDIS_KEY_PREFIX, readFlowSettings } from '../../shared/config';
import {
  EVENT_TYPES,
  KEYS,
  SUBJECTS,
  type DeadLetterData,
  type FinishedData,
  type TaskEnvelope,
} from '../../shared/contract';
import { EVENT_IDS } from '../../shared/emit';
import { createEvent, type WireEvent } from '../../shared/events';
import { createLogger } from '../../shared/logger';
import { connectNats, type NatsConnection } from '../../shared/nats';
import { setupFlow } from '../../shared/flow-setup';
import { connectRedis, toChannel, type Redis } from '../../shared/redis';
import { startFunction, type RunningFunction } from '../../shared/runtime/start-function';
import { applyStatus } from '../../shared/status';
import { collectEvents, postBinary, type EventCollector } from '../../test/helpers/events';
import { waitFor } from '../../test/helpers/ports';
import { startNatsServer, startRedisServer, type TestServer } from '../../test/helpers/servers';
import { definition } from './definition';
import { toAuditRecords, toStatusUpdates } from '../../test/helpers/steps';

const logger = createLogger('worker-int-test', 'silent');
let natsServer: TestServer;
let redisServer: TestServer;
let nc: NatsConnection;
let redis: Redis;
let worker: RunningFunction;
let url: string;
let collectors: EventCollector[] = [];
const allEvents = () => collectors.flatMap((c) => c.events);

beforeAll(async () => {
  [natsServer, redisServer] = await Promise.all([startNatsServer(), startRedisServer()]);
  const env = { PORT: '0', NATS_URL: natsServer.url, REDIS_URL: redisServer.url, LOG_LEVEL: 'silent', TM_SHUTDOWN_GRACE_MS: '2000' };
  nc = await connectNats({ url: natsServer.url, name: 'worker-int-test', logger });
  await setupFlow(nc, readFlowSettings(createEnvReader(env)), logger);
  redis = await connectRedis({ url: redisServer.url, keyPrefix: DEFAULT_REDIS_KEY_PREFIX, name: 'worker-int-test', logger });
  worker = await startFunction(definition, env);
  url = `http://127.0.0.1:${worker.port}/`;
  collectors = [collectEvents(nc, 'tasks.>'), collectEvents(nc, 'events.>')];
});

afterAll(async () => {
  for (const collector of collectors) collector.stop();
  await worker?.stop();
  await nc?.close();
  redis?.disconnect();
  await Promise.all([natsServer?.stop(), redisServer?.stop()]);
});

let counter = 0;
function newTaskId(): string {
  counter += 1;
  return `w-${Date.now().toString(36)}-${counter}`;
}

function envelope(taskId: string, type: string, payload: unknown, overrides: Partial<TaskEnvelope> = {}): TaskEnvelope {
  return {
    taskId,
    type,
    payload: JSON.stringify(payload),
    priority: 'high',
    metadata: {},
    maxAttempts: 5,
    createdAtMs: Date.now(),
    notBeforeMs: 0,
    tenant: 'int',
    ...overrides,
  };
}

/** A delivery as the source makes it: binary mode, with the attempt extensions. */
function delivery(task: TaskEnvelope, attempt = 1, type: string = EVENT_TYPES.scheduled): WireEvent {
  const event = createEvent({ id: EVENT_IDS.scheduled(task.taskId), component: 'scheduler', type, taskId: task.taskId, data: task });
  return { ...event, deliveryattempt: String(attempt), maxdeliver: '5' };
}

const eventsOf = (taskId: string, subject: string) =>
  allEvents().filter((e) => e.subject === taskId && subjectOf(e) === subject);

function subjectOf(event: WireEvent): string {
  if (event.type === EVENT_TYPES.statusChanged) return SUBJECTS.status;
  if (event.type === EVENT_TYPES.auditRecorded) return SUBJECTS.audit;
  if (event.type === EVENT_TYPES.deadlettered) return SUBJECTS.deadletter;
  if (event.type === EVENT_TYPES.finished) return SUBJECTS.results;
  return event.type;
}

const statuses = (taskId: string) => eventsOf(taskId, SUBJECTS.status).flatMap(toStatusUpdates);
const audits = (taskId: string) => allEvents().filter((e) => e.subject === taskId).flatMap(toAuditRecords);
const finished = (taskId: string) => eventsOf(taskId, SUBJECTS.results).map((e) => e.data as FinishedData);
const deadLetters = (taskId: string) => eventsOf(taskId, SUBJECTS.deadletter).map((e) => e.data as DeadLetterData);
const started = (taskId: string) => audits(taskId).filter((a) => a.action === 'handler.started');

describe('worker (real NATS + Redis)', () => {
  it('a sleep task reports progress, finishes SUCCEEDED once, and leaves the terminal status to the result-store', async () => {
    const taskId = newTaskId();
    const response = await postBinary(url, delivery(envelope(taskId, 'sleep', { ms: 600 })));
    expect(response.status).toBe(204);

    const [result] = await waitFor('finished event', () => finished(taskId).length === 1 && finished(taskId));
    expect(result).toMatchObject({ state: 'SUCCEEDED', output: JSON.stringify({ slept: 600 }), attempts: 1 });
    expect(result!.finishedAtMs - result!.startedAtMs).toBeGreaterThanOrEqual(600);

    const progress = await waitFor('progress 100', () => {
      const values = statuses(taskId).filter((s) => s.state === 'RUNNING').map((s) => s.progress);
      return values.includes(100) && values;
    });
    expect(progress.length).toBeGreaterThan(2);
    expect([...progress].sort((a, b) => a - b)).toEqual([...new Set(progress)].sort((a, b) => a - b));
    expect(statuses(taskId).map((s) => s.state).filter((s) => s !== 'RUNNING')).toEqual([]);
    expect(started(taskId)).toHaveLength(1);
  });

  it('a task cancelled while sleeping ends CANCELLED long before its sleep would end', async () => {
    const taskId = newTaskId();
    const sleepMs = 120_000;
    const startedAt = Date.now();
    const pending = postBinary(url, delivery(envelope(taskId, 'sleep', { ms: sleepMs })));
    await waitFor('the task to run', () => started(taskId).length === 1);

    await redis.publish(toChannel(redis, KEYS.cancelChannel), taskId);
    const response = await pending;
    expect(response.status).toBe(204);
    expect(Date.now() - startedAt).toBeLessThan(sleepMs / 2);

    const [result] = await waitFor('finished event', () => finished(taskId).length === 1 && finished(taskId));
    expect(result).toMatchObject({ state: 'CANCELLED', attempts: 1 });
    expect(deadLetters(taskId)).toEqual([]);
  });

  it('a cancel for another task does not stop a running one', async () => {
    const taskId = newTaskId();
    const pending = postBinary(url, delivery(envelope(taskId, 'sleep', { ms: 400 })));
    await waitFor('the task to run', () => started(taskId).length === 1);
    await redis.publish(toChannel(redis, KEYS.cancelChannel), `${taskId}-other`);
    expect((await pending).status).toBe(204);
    await waitFor('finished SUCCEEDED', () => finished(taskId)[0]?.state === 'SUCCEEDED');
  });

  it('a retryable failure answers 500 with RETRYING while attempts are left; the last attempt is FAILED with one dead letter', async () => {
    const taskId = newTaskId();
    const task = envelope(taskId, 'fail', { message: 'boom' }, { maxAttempts: 2 });

    const first = await postBinary(url, delivery(task, 1));
    expect(first.status).toBe(500);
    await waitFor('RETRYING', () => statuses(taskId).some((s) => s.state === 'RETRYING' && s.attempt === 1));
    expect(finished(taskId)).toEqual([]);

    const second = await postBinary(url, delivery(task, 2));
    expect(second.status).toBe(204);
    const [result] = await waitFor('finished FAILED', () => finished(taskId).length === 1 && finished(taskId));
    expect(result).toMatchObject({ state: 'FAILED', error: 'boom', attempts: 2 });
    const [deadLetter] = await waitFor('dead letter', () => deadLetters(taskId).length === 1 && deadLetters(taskId));
    expect(deadLetter).toMatchObject({ stage: 'worker', reason: 'failed after 2 attempts', attempts: 2, lastError: 'boom' });
    expect(started(taskId).map((a) => a.attempt)).toEqual([1, 2]);
  });

  it('a task that is already terminal is acked without running', async () => {
    const taskId = newTaskId();
    await applyStatus(redis, { taskId, state: 'CANCELLED', stage: 'gateway', attempt: 0, message: '', progress: 0, updatedAtMs: Date.now() });
    const response = await postBinary(url, delivery(envelope(taskId, 'echo', { x: 1 })));
    expect(response.status).toBe(204);
    await waitFor('the skip audit', () => audits(taskId).some((a) => a.action === 'skipped.cancelled'));
    expect(started(taskId)).toEqual([]);
    expect(finished(taskId)).toEqual([]);
  });

  it('malformed or unsupported CloudEvents get 400 and nothing is published', async () => {
    const taskId = newTaskId();
    const unsupported = await postBinary(url, delivery(envelope(taskId, 'echo', {}), 1, EVENT_TYPES.finished));
    expect(unsupported.status).toBe(400);
    expect(((await unsupported.json()) as { message: string }).message).toMatch(/unsupported event type/);

    const badData = await postBinary(url, delivery({ ...envelope(taskId, 'echo', {}), maxAttempts: 'many' as never }));
    expect(badData.status).toBe(400);
    expect(((await badData.json()) as { message: string }).message).toMatch(/maxAttempts/);

    const notJson = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': 'x', 'ce-source': '/t', 'ce-type': EVENT_TYPES.scheduled },
      body: '{nope',
    });
    expect(notJson.status).toBe(400);

    // A good event afterwards proves the collector was listening while the bad ones were refused.
    const control = newTaskId();
    expect((await postBinary(url, delivery(envelope(control, 'echo', 1)))).status).toBe(204);
    await waitFor('the control task', () => finished(control).length === 1);
    expect(allEvents().filter((e) => e.subject === taskId)).toEqual([]);
    expect(await redis.keys(`*${taskId}*`)).toEqual([]);
  });
});
