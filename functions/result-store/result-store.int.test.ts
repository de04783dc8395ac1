// The result-store in-process against a real nats-server and redis-server: it persists (with
// the CAS of shared/redis.ts) before it reports, serves GET /results/:id, refuses bad events.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEnvReader, DEFAULT_REDIS_KEY_PREFIX, readFlowSettings } from '../../shared/config';
import { EVENT_TYPES, KEYS, type FinishedData, type TaskEnvelope, SUBJECTS } from '../../shared/contract';
import { EVENT_IDS } from '../../shared/emit';
import { createEvent, type WireEvent } from '../../shared/events';
import { createLogger } from '../../shared/logger';
import { connectNats, type NatsConnection } from '../../shared/nats';
import { setupFlow } from '../../shared/flow-setup';
import { connectRedis, type Redis } from '../../shared/redis';
import { startFunction, type RunningFunction } from '../../shared/runtime/start-function';
import { collectEvents, postBinary, postStructured, type EventCollector } from '../../test/helpers/events';
import { waitFor } from '../../test/helpers/ports';
import { startNatsServer, startRedisServer, type TestServer } from '../../test/helpers/servers';
import { definition } from './definition';
import type { StoredResult } from './result';
import { toAuditRecords, toStatusUpdates } from '../../test/helpers/steps';

const TTL_SECONDS = 3_600;
const logger = createLogger('result-store-int-test', 'silent');
let natsServer: TestServer;
let redisServer: TestServer;
let nc: NatsConnection;
let redis: Redis;
let resultStore: RunningFunction;
let base: string;
let collectors: EventCollector[] = [];
const allEvents = () => collectors.flatMap((c) => c.events);

beforeAll(async () => {
  [natsServer, redisServer] = await Promise.all([startNatsServer(), startRedisServer()]);
  const env = {
    PORT: '0',
    NATS_URL: natsServer.url,
    REDIS_URL: redisServer.url,
    LOG_LEVEL: 'silent',
    TM_RESULT_TTL_SECONDS: String(TTL_SECONDS),
    TM_SHUTDOWN_GRACE_MS: '2000',
  };
  nc = await connectNats({ url: natsServer.url, name: 'result-store-int-test', logger });
  await setupFlow(nc, readFlowSettings(createEnvReader(env)), logger);
  redis = await connectRedis({ url: redisServer.url, keyPrefix: DEFAULT_REDIS_KEY_PREFIX, name: 'result-store-int-test', logger });
  resultStore = await startFunction(definition, env);
  base = `http://127.0.0.1:${resultStore.port}`;
  collectors = [collectEvents(nc, 'tasks.>'), collectEvents(nc, 'events.>')];
});

afterAll(async () => {
  for (const collector of collectors) collector.stop();
  await resultStore?.stop();
  await nc?.close();
  redis?.disconnect();
  await Promise.all([natsServer?.stop(), redisServer?.stop()]);
});

let counter = 0;
function newTaskId(): string {
  counter += 1;
  return `r-${Date.now().toString(36)}-${counter}`;
}

function envelope(taskId: string): TaskEnvelope {
  return {
    taskId,
    type: 'echo',
    payload: '{"x":1}',
    priority: 'medium',
    metadata: {},
    maxAttempts: 5,
    createdAtMs: Date.now() - 1_000,
    notBeforeMs: 0,
    tenant: 'int',
  };
}

function finishedEvent(taskId: string, overrides: Partial<FinishedData> = {}, type: string = EVENT_TYPES.finished): WireEvent {
  const data: FinishedData = {
    task: envelope(taskId),
    state: 'SUCCEEDED',
    output: '{"x":1}',
    error: '',
    attempts: 1,
    startedAtMs: Date.now() - 100,
    finishedAtMs: Date.now(),
    ...overrides,
  };
  const event = createEvent({ id: EVENT_IDS.finished(taskId, data.attempts), component: 'worker', type, taskId, data });
  return { ...event, deliveryattempt: '1', maxdeliver: '5' };
}

const statuses = (taskId: string) =>
  allEvents()
    .filter((e) => e.subject === taskId && e.type === EVENT_TYPES.statusChanged)
    .flatMap(toStatusUpdates);

async function getResult(id: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${base}/results/${id}`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('result-store (real NATS + Redis)', () => {
  it('stores the result with its TTL, then reports SUCCEEDED; a client that sees it can read the result', async () => {
    const taskId = newTaskId();
    // When the status event arrives, read the result at once: it must already be there.
    const readOnSight: Promise<string | null>[] = [];
    const sub = nc.subscribe(SUBJECTS.status, {
      callback: (_err, msg) => {
        const event = JSON.parse(new TextDecoder().decode(msg.data)) as WireEvent;
        if (event.subject === taskId) readOnSight.push(redis.hget(KEYS.result(taskId), 'json'));
      },
    });
    try {
      const event = finishedEvent(taskId);
      const response = await postBinary(`${base}/`, event);
      expect(response.status).toBe(204);

      await waitFor('the SUCCEEDED status', () => readOnSight.length === 1);
      expect(await readOnSight[0]).not.toBeNull();
    } finally {
      sub.unsubscribe();
    }

    expect(statuses(taskId)).toMatchObject([{ state: 'SUCCEEDED', stage: 'result-store', attempt: 1 }]);
    const ttl = await redis.ttl(KEYS.result(taskId));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(TTL_SECONDS);
    await waitFor('the result.stored audit', () =>
      allEvents().some((e) => e.subject === taskId && toAuditRecords(e).some((audit) => audit.action === 'result.stored')),
    );

    const { status, body } = await getResult(taskId);
    expect(status).toBe(200);
    expect(body).toMatchObject({ taskId, state: 'SUCCEEDED', output: '{"x":1}', error: '', attempts: 1 } satisfies Partial<StoredResult>);
    expect(typeof body.startedAtMs).toBe('number');
    expect(typeof body.finishedAtMs).toBe('number');
  });

  it('a FAILED result delivered in structured mode is stored and reported with its error', async () => {
    const taskId = newTaskId();
    const response = await postStructured(`${base}/`, finishedEvent(taskId, { state: 'FAILED', output: '', error: 'boom', attempts: 5 }));
    expect(response.status).toBe(204);
    await waitFor('the FAILED status', () => statuses(taskId).some((s) => s.state === 'FAILED' && s.message === 'boom' && s.attempt === 5));
    expect((await getResult(taskId)).body).toMatchObject({ state: 'FAILED', error: 'boom', attempts: 5 });
  });

  it('a late result from an older attempt does not overwrite a newer one, and is not reported', async () => {
    const taskId = newTaskId();
    expect((await postBinary(`${base}/`, finishedEvent(taskId, { attempts: 3, output: '"newer"' }))).status).toBe(204);
    await waitFor('the SUCCEEDED status', () => statuses(taskId).length === 1);

    const late = await postBinary(`${base}/`, finishedEvent(taskId, { attempts: 2, state: 'FAILED', output: '', error: 'late' }));
    expect(late.status).toBe(204);
    // A later task's status proves the collector saw whatever this delivery published.
    const control = newTaskId();
    await postBinary(`${base}/`, finishedEvent(control));
    await waitFor('the control status', () => statuses(control).length === 1);

    expect(statuses(taskId).map((s) => s.state)).toEqual(['SUCCEEDED']);
    expect(await redis.hget(KEYS.result(taskId), 'attempt')).toBe('3');
    expect((await getResult(taskId)).body).toMatchObject({ state: 'SUCCEEDED', output: '"newer"', attempts: 3 });
  });

  it('GET /results/:id: 404 while there is no result, 400 naming id for an implausible id', async () => {
    const missing = await getResult(newTaskId());
    expect(missing).toMatchObject({ status: 404, body: { error: 'NOT_FOUND' } });

    const bad = await getResult('not%20an%20id');
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/^id must be/);
  });

  it('malformed or unsupported CloudEvents get 400 and nothing is written', async () => {
    const taskId = newTaskId();
    const badState = await postBinary(`${base}/`, finishedEvent(taskId, { state: 'RUNNING' as never }));
    expect(badState.status).toBe(400);
    expect(((await badState.json()) as { message: string }).message).toMatch(/data\.state/);

    const unsupported = await postBinary(`${base}/`, finishedEvent(taskId, {}, EVENT_TYPES.scheduled));
    expect(unsupported.status).toBe(400);

    const noCloudEvent = await fetch(`${base}/`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    expect(noCloudEvent.status).toBe(400);

    const control = newTaskId();
    await postBinary(`${base}/`, finishedEvent(control));
    await waitFor('the control status', () => statuses(control).length === 1);
    expect(allEvents().filter((e) => e.subject === taskId)).toEqual([]);
    expect(await redis.exists(KEYS.result(taskId))).toBe(0);
  });

  // Last: it stops Redis.
  it('Redis down: GET answers 503 and a finished event is answered 503 (retried), not reported', async () => {
    const taskId = newTaskId();
    redisServer.kill('SIGKILL');
    await waitFor('the result-store to notice Redis is gone', async () => (await getResult(taskId)).status === 503);
    const response = await postBinary(`${base}/`, finishedEvent(taskId));
    expect(response.status).toBe(503);
    expect(statuses(taskId)).toEqual([]);
  });
});
