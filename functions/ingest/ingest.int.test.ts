// ingest in-process against real nats-server and redis-server, calling the real enricher over
// HTTP. Deliveries are POSTed the way the source sends them (binary mode) and the way Knative
// channels do (structured mode); assertions read what was published on NATS.
import { randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { RedisClient as Redis } from '../../shared/redis-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEnvReader, DEFAULT_REDIS_KEY_PREFIX, readFlowSettings } from '../../shared/config';
import {
  EVENT_TYPES,
  STREAM_EVENTS,
  SUBJECTS,
  type DeadLetterData,
  type TaskEnvelope,
} from '../../shared/contract';
import { EVENT_IDS } from '../../shared/emit';
import { createEvent, type WireEvent } from '../../shared/events';
import { createLogger } from '../../shared/logger';
import { setupFlow } from '../../shared/flow-setup';
import { defineScripts } from '../../shared/redis';
import { startFunction, type RunningFunction } from '../../shared/runtime/start-function';
import { applyStatus } from '../../shared/status';
import { collectEvents, postBinary, postStructured, type EventCollector } from '../../test/helpers/events';
import { getFreePort, waitFor } from '../../test/helpers/ports';
import { startNatsServer, startRedisServer, type TestServer } from '../../test/helpers/servers';
import { startEnricher, type RunningEnricher } from '../enricher/server';
import { definition } from './definition';
import { toAuditRecords, toStatusUpdates } from '../../test/helpers/steps';

const logger = createLogger('test', 'silent');

function envelope(overrides: Partial<TaskEnvelope> = {}): TaskEnvelope {
  return {
    taskId: randomUUID(),
    type: 'hash',
    payload: JSON.stringify({ data: 'hello' }),
    priority: 'medium',
    metadata: { tier: 'premium' },
    maxAttempts: 5,
    createdAtMs: Date.now(),
    notBeforeMs: 0,
    tenant: 'acme',
    ...overrides,
  };
}

function submitted(data: TaskEnvelope, extensions: Record<string, string> = {}): WireEvent {
  return {
    ...createEvent({ id: EVENT_IDS.submitted(data.taskId), component: 'gateway', type: EVENT_TYPES.submitted, taskId: data.taskId, data }),
    ...extensions,
  };
}

describe('ingest (real NATS, Redis and enricher)', () => {
  let natsServer: TestServer;
  let redisServer: TestServer;
  let nc: NatsConnection;
  let redis: Redis;
  let enricher: RunningEnricher;
  let failingEnricher: RunningEnricher;
  let ingest: RunningFunction;
  let ingestWithoutEnricher: RunningFunction;
  let ingestWithFailingEnricher: RunningFunction;
  let all: EventCollector[];
  let tasks: EventCollector;
  let events: EventCollector;

  const url = (fn: RunningFunction) => `http://127.0.0.1:${fn.port}/`;
  const published = (taskId: string) => [...tasks.events, ...events.events].filter((e) => e.subject === taskId);
  const onSubject = (collector: EventCollector, taskId: string, type: string) =>
    collector.events.filter((e) => e.subject === taskId && e.type === type);
  const statesOf = (taskId: string) =>
    onSubject(events, taskId, EVENT_TYPES.statusChanged).flatMap(toStatusUpdates).map((u) => u.state);

  async function countOnStream(subject: string): Promise<number> {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(STREAM_EVENTS, { subjects_filter: subject });
    return info.state.subjects?.[subject] ?? 0;
  }

  beforeAll(async () => {
    natsServer = await startNatsServer();
    redisServer = await startRedisServer();
    nc = await connect({ servers: natsServer.url });
    await setupFlow(nc, readFlowSettings(createEnvReader({})), logger);
    redis = new Redis(redisServer.url, { keyPrefix: DEFAULT_REDIS_KEY_PREFIX });
    defineScripts(redis);
    enricher = await startEnricher({ PORT: '0', LOG_LEVEL: 'silent' });
    failingEnricher = await startEnricher({ PORT: '0', LOG_LEVEL: 'silent', ENRICHER_ERROR_RATE: '1' });
    const env = { PORT: '0', NATS_URL: natsServer.url, REDIS_URL: redisServer.url, LOG_LEVEL: 'silent' };
    ingest = await startFunction(definition, { ...env, ENRICHER_URL: `http://127.0.0.1:${enricher.port}` });
    ingestWithoutEnricher = await startFunction(definition, {
      ...env,
      ENRICHER_URL: `http://127.0.0.1:${await getFreePort()}`,
      TM_ENRICHER_TIMEOUT_MS: '1000',
    });
    ingestWithFailingEnricher = await startFunction(definition, {
      ...env,
      ENRICHER_URL: `http://127.0.0.1:${failingEnricher.port}`,
    });
    tasks = collectEvents(nc, 'tasks.>');
    events = collectEvents(nc, 'events.>');
    all = [tasks, events];
    await nc.flush();
  });

  afterAll(async () => {
    for (const collector of all ?? []) collector.stop();
    for (const fn of [ingest, ingestWithoutEnricher, ingestWithFailingEnricher]) await fn?.stop();
    await enricher?.stop();
    await failingEnricher?.stop();
    await nc?.close();
    redis?.disconnect();
    await natsServer?.stop();
    await redisServer?.stop();
  });

  it('a valid task (binary mode) is validated, enriched and published on tasks.schedule', async () => {
    const task = envelope({ priority: 'high' });
    const response = await postBinary(url(ingest), submitted(task, { deliveryattempt: '1', maxdeliver: '5' }));
    expect(response.status).toBe(204);

    const accepted = await waitFor('the accepted event', () => onSubject(tasks, task.taskId, EVENT_TYPES.accepted)[0]);
    expect(accepted).toMatchObject({ id: EVENT_IDS.accepted(task.taskId), source: '/taskmanager/ingest' });
    const data = accepted.data as TaskEnvelope;
    expect(data).toMatchObject(task);
    expect(data.enrichment).toMatchObject({ tier: 'premium', region: expect.any(String), fingerprint: expect.any(String) });
    expect(tasks.events.filter((e) => e.id === accepted.id && e.subject === task.taskId)).toHaveLength(1);
    await nc.flush();
    expect(statesOf(task.taskId)).toEqual(['VALIDATED', 'ENRICHED']);
    expect(events.events.filter((e) => e.subject === task.taskId).flatMap(toAuditRecords).map((a) => a.action)).toEqual(['accepted']);
  });

  it('a valid task (structured mode) is published on tasks.schedule too', async () => {
    const task = envelope({ type: 'sleep', payload: '{"ms":10}' });
    const response = await postStructured(url(ingest), submitted(task));
    expect(response.status).toBe(204);
    await waitFor('the accepted event', () => onSubject(tasks, task.taskId, EVENT_TYPES.accepted)[0]);
  });

  it('an unknown type is REJECTED with one dead letter, answered 2xx, even when redelivered', async () => {
    const task = envelope({ type: 'no-such-type' });
    const before = await countOnStream(SUBJECTS.deadletter);
    const first = await postBinary(url(ingest), submitted(task, { deliveryattempt: '1' }));
    expect(first.status).toBe(204);
    // The source redelivers if our ack was lost: the repeat must not add a second dead letter.
    const again = await postBinary(url(ingest), submitted(task, { deliveryattempt: '2' }));
    expect(again.status).toBe(204);
    await nc.flush();

    const statuses = onSubject(events, task.taskId, EVENT_TYPES.statusChanged).flatMap(toStatusUpdates);
    expect(statuses.map((s) => s.state)).toEqual(['REJECTED', 'REJECTED']);
    expect(statuses[0]!.message).toContain('unknown task type "no-such-type"');
    const dead = onSubject(events, task.taskId, EVENT_TYPES.deadlettered);
    expect(new Set(dead.map((e) => e.id))).toEqual(new Set([EVENT_IDS.deadLetter(task.taskId, 'ingest')]));
    expect(dead[0]!.data as DeadLetterData).toMatchObject({
      taskId: task.taskId,
      stage: 'ingest',
      attempts: 1,
      reason: statuses[0]!.message,
      lastError: statuses[0]!.message,
      event: { id: EVENT_IDS.submitted(task.taskId), type: EVENT_TYPES.submitted, data: task },
    });
    expect(await countOnStream(SUBJECTS.deadletter)).toBe(before + 1);
    expect(onSubject(tasks, task.taskId, EVENT_TYPES.accepted)).toEqual([]);
  });

  it('a payload that breaks its schema (structured mode) is REJECTED with one dead letter and answered 2xx', async () => {
    const task = envelope({ type: 'sleep', payload: '{"ms":-5}' });
    const before = await countOnStream(SUBJECTS.deadletter);
    const response = await postStructured(url(ingest), submitted(task));
    expect(response.status).toBe(204);
    await nc.flush();

    const statuses = onSubject(events, task.taskId, EVENT_TYPES.statusChanged).flatMap(toStatusUpdates);
    expect(statuses.map((s) => s.state)).toEqual(['REJECTED']);
    expect(statuses[0]!.message).toMatch(/\/ms must be >= 0/);
    expect(onSubject(events, task.taskId, EVENT_TYPES.deadlettered)).toHaveLength(1);
    expect(await countOnStream(SUBJECTS.deadletter)).toBe(before + 1);
    expect(onSubject(tasks, task.taskId, EVENT_TYPES.accepted)).toEqual([]);
  });

  it('a task cancelled before ingest saw it is acked and not enriched or scheduled', async () => {
    const task = envelope();
    await applyStatus(redis, {
      taskId: task.taskId, state: 'CANCELLED', stage: 'gateway', attempt: 0, message: 'cancelled by client', progress: 0, updatedAtMs: Date.now(),
    });
    const response = await postBinary(url(ingest), submitted(task));
    expect(response.status).toBe(204);
    await nc.flush();
    expect(published(task.taskId).map((e) => e.type)).toEqual([EVENT_TYPES.auditRecorded]);
    expect(toAuditRecords(published(task.taskId)[0]!)[0]!.action).toBe('skipped.cancelled');
  });

  it('with the enricher down the delivery answers 503 (retried) and nothing reaches tasks.schedule', async () => {
    const task = envelope();
    const response = await postBinary(url(ingestWithoutEnricher), submitted(task));
    expect(response.status).toBe(503);
    expect(((await response.json()) as { message: string }).message).toMatch(/enricher .*unreachable/);
    await nc.flush();
    expect(onSubject(tasks, task.taskId, EVENT_TYPES.accepted)).toEqual([]);
    // The step's status goes out with `accepted`, once the enricher answered: nothing yet.
    expect(statesOf(task.taskId)).toEqual([]);
  });

  it('with the enricher failing (503) the delivery answers 503 and nothing reaches tasks.schedule', async () => {
    const task = envelope();
    const response = await postStructured(url(ingestWithFailingEnricher), submitted(task));
    expect(response.status).toBe(503);
    expect(((await response.json()) as { message: string }).message).toMatch(/enricher answered 503/);
    await nc.flush();
    expect(onSubject(tasks, task.taskId, EVENT_TYPES.accepted)).toEqual([]);
  });

  describe('malformed or unsupported CloudEvents get 400 with a reason and publish nothing', () => {
    const cases: [string, (taskId: string) => Promise<Response>, RegExp][] = [
      [
        'binary mode without ce-id',
        (taskId) =>
          fetch(url(ingest), {
            method: 'POST',
            headers: { 'ce-specversion': '1.0', 'ce-type': EVENT_TYPES.submitted, 'ce-source': '/t', 'ce-subject': taskId, 'content-type': 'application/json' },
            body: JSON.stringify(envelope({ taskId })),
          }),
        /"id" is missing/,
      ],
      [
        'structured mode with a body that is not JSON',
        () => fetch(url(ingest), { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: '{"id":' }),
        /not valid JSON/,
      ],
      [
        'an event type ingest does not take',
        (taskId) => postBinary(url(ingest), { ...submitted(envelope({ taskId })), type: EVENT_TYPES.scheduled }),
        /unsupported event type "taskmanager.task.scheduled"/,
      ],
      [
        'data that is not a task envelope',
        (taskId) => postBinary(url(ingest), { ...submitted(envelope({ taskId })), data: { taskId, type: 'echo' } }),
        /data\.payload must be a string/,
      ],
      [
        'no CloudEvent at all',
        () => fetch(url(ingest), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' }),
        /no CloudEvent in request/,
      ],
    ];

    it.each(cases)('%s', async (_name, send, reason) => {
      const taskId = randomUUID();
      await nc.flush();
      const before = tasks.events.length + events.events.length;
      const response = await send(taskId);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { message: string }).message).toMatch(reason);
      await nc.flush();
      expect(tasks.events.length + events.events.length).toBe(before);
    });
  });
});
