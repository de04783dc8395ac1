// The source against a real nats-server (JetStream, the flow of shared/nats.ts setupFlow with a
// scaled-down retry schedule) and a small in-test HTTP server playing the sink.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { once } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { createEnvReader, readFlowSettings } from '../shared/config';
import {
  EVENT_TYPES,
  STREAM_TASKS,
  SUBJECTS,
  type ConsumerSpec,
  type DeadLetterData,
} from '../shared/contract';
import { createEvent, toWireBytes, type WireEvent } from '../shared/events';
import { createLogger } from '../shared/logger';
import { setupFlow } from '../shared/flow-setup';
import { collectEvents } from '../test/helpers/events';
import { waitFor } from '../test/helpers/ports';
import { startNatsServer, type TestServer } from '../test/helpers/servers';
import { loadSourceConfig } from './config';
import { startSource, type RunningSource } from './source';
import { toStatusUpdates } from '../test/helpers/steps';

const FLOW_ENV = {
  TM_RETRY_DELAYS_MS: '100,200,300,400,500',
  TM_ACK_WAIT_MS: '2000',
  TM_MAX_DELIVER: '5',
};

type SinkRequest = { method: string; headers: IncomingHttpHeaders; body: string; at: number };
type SinkReply = { status: number; body?: string; after?: Promise<unknown> };
type Sink = { url: string; requests: SinkRequest[]; close(): Promise<void> };

async function startSink(reply: (index: number, request: SinkRequest) => SinkReply = () => ({ status: 204 })): Promise<Sink> {
  const requests: SinkRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = { method: req.method ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      const index = requests.push(request) - 1;
      const answer = reply(index, request);
      void Promise.resolve(answer.after).then(() => {
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(answer.body ?? '');
      });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

let nats: TestServer;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
const running: RunningSource[] = [];
const sinks: Sink[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  await setupFlow(nc, readFlowSettings(createEnvReader(FLOW_ENV)), createLogger('test', 'silent'));
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((source) => source.stop()));
  await Promise.all(sinks.splice(0).map((sink) => sink.close()));
});

afterAll(async () => {
  await nc?.close().catch(() => undefined);
  await nats?.stop();
});

async function start(
  functionName: string,
  sink: Sink,
  env: Record<string, string> = {},
): Promise<RunningSource> {
  sinks.push(sink);
  const config = loadSourceConfig({
    ...FLOW_ENV,
    NATS_URL: nats.url,
    K_SINK: sink.url,
    TM_SOURCE_FUNCTION: functionName,
    TM_SOURCE_POLL_EXPIRES_MS: '1000',
    // One event per request: these tests read the binary mode; batches are unit-tested (batch-poster.test.ts).
    TM_SOURCE_BATCH_MAX_EVENTS: '1',
    TM_SHUTDOWN_GRACE_MS: '10000',
    PORT: '0',
    ...env,
  });
  const source = await startSource(config, { logger: createLogger(config.component, 'silent'), lagRefreshMs: 100 });
  running.push(source);
  return source;
}

function taskEvent(subject: string, taskId: string, type: string = EVENT_TYPES.submitted): WireEvent {
  return createEvent({ id: `${taskId}:${subject}`, component: 'test', type, taskId, data: { taskId, note: 'hello' } });
}

async function publish(subject: string, event: WireEvent): Promise<number> {
  const ack = await js.publish(subject, toWireBytes(event), { msgID: event.id });
  return ack.seq;
}

async function consumerSettled(consumer: ConsumerSpec) {
  return waitFor(`${consumer.durable} to have nothing pending`, async () => {
    const info = await jsm.consumers.info(consumer.stream, consumer.durable);
    return info.num_ack_pending === 0 && info.num_pending === 0 && info;
  });
}

const INGEST: ConsumerSpec = { stream: STREAM_TASKS, durable: 'ingest', filterSubject: SUBJECTS.ingest };
const SCHEDULER: ConsumerSpec = { stream: STREAM_TASKS, durable: 'scheduler', filterSubject: SUBJECTS.schedule };

const attemptsOf = (sink: Sink) => sink.requests.map((r) => r.headers['ce-deliveryattempt']);

describe('JetStream source', () => {
  it('delivers a published event in binary mode with ce-deliveryattempt=1 and acks it', async () => {
    const sink = await startSink();
    const source = await start('ingest', sink);
    const event = taskEvent(SUBJECTS.ingest, 'task-delivered');
    const seq = await publish(SUBJECTS.ingest, event);

    await waitFor('the delivery', () => sink.requests.length === 1);
    const [request] = sink.requests;
    expect(request!.method).toBe('POST');
    expect(request!.headers).toMatchObject({
      'content-type': 'application/json',
      'ce-specversion': '1.0',
      'ce-id': event.id,
      'ce-source': '/taskmanager/test',
      'ce-type': EVENT_TYPES.submitted,
      'ce-subject': 'task-delivered',
      'ce-deliveryattempt': '1',
      'ce-maxdeliver': '5',
    });
    expect(JSON.parse(request!.body)).toEqual(event.data);

    const info = await consumerSettled(INGEST);
    expect(info.ack_floor.stream_seq).toBeGreaterThanOrEqual(seq);
    // Interest retention: once the only interested consumer acked, the message is gone.
    await waitFor('the message to leave the stream', async () => (await jsm.streams.getMessage(STREAM_TASKS, { seq })) === null);

    await waitFor('metrics', async () => {
      const text = await (await fetch(`http://127.0.0.1:${source.port}/metrics`)).text();
      return (
        text.includes('tm_source_deliveries_total{function="ingest",consumer="ingest"} 1') &&
        text.includes('tm_source_outcomes_total{function="ingest",consumer="ingest",outcome="ack"} 1') &&
        text.includes('tm_source_consumer_lag{function="ingest",consumer="ingest"} 0')
      );
    });
    expect((await fetch(`http://127.0.0.1:${source.port}/healthz`)).status).toBe(200);
  });

  it('retries 503 answers after the contract delays: attempts 1, 2, 3', async () => {
    const sink = await startSink((index) => ({ status: index < 2 ? 503 : 200 }));
    await start('scheduler', sink);
    await publish(SUBJECTS.schedule, taskEvent(SUBJECTS.schedule, 'task-retried', EVENT_TYPES.accepted));

    await waitFor('three deliveries', () => sink.requests.length === 3);
    await consumerSettled(SCHEDULER);
    expect(attemptsOf(sink)).toEqual(['1', '2', '3']);
    const [first, second, third] = sink.requests.map((r) => r.at);
    expect(second! - first!).toBeGreaterThanOrEqual(100);
    expect(third! - second!).toBeGreaterThanOrEqual(200);
    expect(sink.requests).toHaveLength(3);
  });

  it('dead-letters a 400 once, with status and reason; a task event also gets a FAILED status', async () => {
    const deadLetters = collectEvents(nc, SUBJECTS.deadletter);
    const statuses = collectEvents(nc, SUBJECTS.status);
    try {
      const body = JSON.stringify({ error: 'VALIDATION_FAILED', message: 'field output is missing' });
      const sink = await startSink(() => ({ status: 400, body }));
      await start('result-store', sink, { TM_SOURCE_CONSUMERS: 'result-store,audit' });
      await publish(SUBJECTS.results, taskEvent(SUBJECTS.results, 'task-refused', EVENT_TYPES.finished));
      await publish(SUBJECTS.audit, taskEvent(SUBJECTS.audit, 'audit-refused', EVENT_TYPES.auditRecorded));

      await waitFor('two dead letters', () => deadLetters.events.length === 2);
      await waitFor('FAILED status', () => statuses.events.length === 1);
      await consumerSettled({ stream: STREAM_TASKS, durable: 'result-store', filterSubject: SUBJECTS.results });
      await consumerSettled({ stream: 'EVENTS', durable: 'audit', filterSubject: SUBJECTS.audit });

      expect(sink.requests).toHaveLength(2);
      const letters = deadLetters.events.map((e) => e.data as DeadLetterData);
      expect(letters.map((l) => l.taskId).sort()).toEqual(['audit-refused', 'task-refused']);
      for (const letter of letters) {
        expect(letter.stage).toBe('source:result-store');
        expect(letter.reason).toContain('400');
        expect(letter.reason).toContain('field output is missing');
        expect(letter.attempts).toBe(1);
      }
      const status = toStatusUpdates(statuses.events[0]!)[0]!;
      expect(status).toMatchObject({ taskId: 'task-refused', state: 'FAILED' });
      expect(status.message).toContain('field output is missing');
      expect(statuses.events).toHaveLength(1);
      expect(deadLetters.events).toHaveLength(2);
    } finally {
      deadLetters.stop();
      statuses.stop();
    }
  });

  it('gives up after MaxDeliver attempts on a sink that always fails: one dead letter', async () => {
    const deadLetters = collectEvents(nc, SUBJECTS.deadletter);
    const statuses = collectEvents(nc, SUBJECTS.status);
    try {
      const sink = await startSink(() => ({ status: 500, body: JSON.stringify({ error: 'INTERNAL', message: 'boom' }) }));
      await start('ingest', sink);
      await publish(SUBJECTS.ingest, taskEvent(SUBJECTS.ingest, 'task-exhausted'));

      await waitFor('a dead letter', () => deadLetters.events.length === 1);
      await consumerSettled(INGEST);
      expect(attemptsOf(sink)).toEqual(['1', '2', '3', '4', '5']);
      const letter = deadLetters.events[0]!.data as DeadLetterData;
      expect(letter).toMatchObject({ taskId: 'task-exhausted', stage: 'source:ingest', attempts: 5 });
      expect(letter.reason).toBe('undeliverable to ingest after 5 attempts: 500 INTERNAL: boom');
      await waitFor('FAILED status', () => statuses.events.length === 1);
      expect(toStatusUpdates(statuses.events[0]!)[0]).toMatchObject({ taskId: 'task-exhausted', state: 'FAILED', attempt: 5 });
      expect(deadLetters.events).toHaveLength(1);
    } finally {
      deadLetters.stop();
      statuses.stop();
    }
  });

  it('dead-letters bytes that are not a CloudEvent and still delivers the next event', async () => {
    const deadLetters = collectEvents(nc, SUBJECTS.deadletter);
    try {
      const sink = await startSink();
      await start('scheduler', sink);
      const badSeq = (await js.publish(SUBJECTS.schedule, new TextEncoder().encode('{"this": "is not a CloudEvent"'))).seq;
      const good = taskEvent(SUBJECTS.schedule, 'task-after-garbage', EVENT_TYPES.accepted);
      await publish(SUBJECTS.schedule, good);

      await waitFor('the valid event', () => sink.requests.length === 1);
      await waitFor('a dead letter', () => deadLetters.events.length === 1);
      await consumerSettled(SCHEDULER);
      expect(sink.requests[0]!.headers['ce-id']).toBe(good.id);
      const letter = deadLetters.events[0]!.data as DeadLetterData;
      expect(letter.stage).toBe('source:scheduler');
      expect(letter.reason).toContain(`TASKS #${badSeq} is not a valid CloudEvent`);
      expect(letter.event).toMatchObject({ stream: 'TASKS', sequence: badSeq });
    } finally {
      deadLetters.stop();
    }
  });

  it('fills a freed slot from the highest priority: every high message before the remaining low ones', async () => {
    const firstDone = gate();
    const sink = await startSink((index) => ({ status: 200, after: index === 0 ? firstDone.opened : undefined }));
    await start('worker', sink, { TM_SOURCE_MAX_IN_FLIGHT: '1' });
    const lows = ['low-1', 'low-2', 'low-3'];
    const highs = ['high-1', 'high-2', 'high-3'];
    for (const id of lows) await publish(SUBJECTS.workerLow, taskEvent(SUBJECTS.workerLow, id, EVENT_TYPES.scheduled));
    await waitFor('the first low delivery', () => sink.requests.length === 1);
    for (const id of highs) await publish(SUBJECTS.workerHigh, taskEvent(SUBJECTS.workerHigh, id, EVENT_TYPES.scheduled));
    firstDone.open();

    await waitFor('all six deliveries', () => sink.requests.length === 6);
    const order = sink.requests.map((r) => r.headers['ce-subject']);
    expect(order[0]).toBe('low-1');
    expect(order.slice(1, 4)).toEqual(highs);
    expect(order.slice(4)).toEqual(['low-2', 'low-3']);
    for (const durable of ['worker-high', 'worker-low']) {
      await consumerSettled({ stream: STREAM_TASKS, durable, filterSubject: '' });
    }
  });

  it('keeps a delivery that outlasts AckWait from being redelivered (in-progress acks)', async () => {
    const sink = await startSink(() => ({ status: 200, after: new Promise((resolve) => setTimeout(resolve, 5_000)) }));
    await start('ingest', sink, { TM_SOURCE_MAX_IN_FLIGHT: '4' });
    await publish(SUBJECTS.ingest, taskEvent(SUBJECTS.ingest, 'task-slow'));

    await waitFor('the delivery', () => sink.requests.length === 1);
    const info = await consumerSettled(INGEST);
    expect(info.num_redelivered).toBe(0);
    expect(sink.requests).toHaveLength(1);
    expect(attemptsOf(sink)).toEqual(['1']);
  });

  it('survives a NATS restart while idle and delivers the next event', async () => {
    const sink = await startSink();
    const source = await start('scheduler', sink);
    const health = () => fetch(`http://127.0.0.1:${source.port}/healthz`).then((r) => r.status);
    await waitFor('healthy', async () => (await health()) === 200);

    await nats.restart();
    const event = taskEvent(SUBJECTS.schedule, 'task-after-restart', EVENT_TYPES.accepted);
    await waitFor('JetStream back', () => publish(SUBJECTS.schedule, event).then(() => true), 30_000, 200);

    await waitFor('the delivery after the restart', () => sink.requests.length === 1, 30_000);
    expect(sink.requests[0]!.headers['ce-id']).toBe(event.id);
    await consumerSettled(SCHEDULER);
    await waitFor('healthy again', async () => (await health()) === 200);
  });

  it('on stop, waits for the delivery in flight and acks it', async () => {
    const release = gate();
    const sink = await startSink(() => ({ status: 204, after: release.opened }));
    const source = await start('ingest', sink);
    const seq = await publish(SUBJECTS.ingest, taskEvent(SUBJECTS.ingest, 'task-draining'));
    await waitFor('the delivery', () => sink.requests.length === 1);

    let stopped = false;
    const stopping = source.stop().then(() => (stopped = true));
    await waitFor('healthz to report draining', async () =>
      fetch(`http://127.0.0.1:${source.port}/healthz`).then((r) => r.status === 503, () => false),
    );
    expect(stopped).toBe(false);
    release.open();
    await stopping;

    const info = await consumerSettled(INGEST);
    expect(info.ack_floor.stream_seq).toBeGreaterThanOrEqual(seq);
    expect(info.num_redelivered).toBe(0);
    expect(sink.requests).toHaveLength(1);
  });
});
