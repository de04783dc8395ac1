import { describe, expect, it } from 'vitest';
import {
  CONSUMERS,
  DEFAULT_FLOW_SETTINGS,
  EVENT_TYPES,
  SUBJECTS,
  type ConsumerSpec,
  type DeadLetterData,
  type FlowSettings,
} from '../shared/contract';
import { DependencyUnavailableError, PermanentError } from '../shared/errors';
import { createEvent, toWireBytes, type WireEvent } from '../shared/events';
import { createLogger } from '../shared/logger';
import type { Publisher } from '../shared/nats';
import {
  classifyError,
  classifyResponse,
  createDeliverer,
  decide,
  describeFailure,
  findUnsendableHeader,
  toBatchedEvent,
  toDeliveryHeaders,
  toResponseDetail,
  toRetryAfterMs,
} from './delivery';
import type { BatchOutcome, BatchPoster } from './batch-poster';
import { createSourceMetrics } from './metrics';
import type { PulledMessage } from './pull-feed';
import { toStatusUpdates } from '../test/helpers/steps';

const FLOW: FlowSettings = { ...DEFAULT_FLOW_SETTINGS, retryDelaysMs: [100, 200, 300, 400, 500], maxDeliver: 5 };

function connectionError(code: string): TypeError {
  return new TypeError('fetch failed', { cause: Object.assign(new Error(`connect ${code} 127.0.0.1:9`), { code }) });
}

describe('classifyResponse (Knative data plane)', () => {
  it.each([200, 201, 202, 204, 299])('%i → ack', (status) => expect(classifyResponse(status)).toBe('ack'));
  it.each([404, 408, 409, 429, 500, 502, 503, 504])('%i → retry', (status) => expect(classifyResponse(status)).toBe('retry'));
  it.each([400, 401, 403, 405, 410, 413, 415, 422, 451])('%i → dead letter', (status) =>
    expect(classifyResponse(status)).toBe('deadletter'),
  );
});

describe('classifyError', () => {
  it('retries timeouts and connection errors', () => {
    expect(classifyError(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))).toBe('retry');
    expect(classifyError(connectionError('ECONNREFUSED'))).toBe('retry');
    expect(classifyError(connectionError('ECONNRESET'))).toBe('retry');
    expect(classifyError(new DependencyUnavailableError('down'))).toBe('retry');
  });

  it('dead-letters requests that can never be sent', () => {
    expect(classifyError(new TypeError('Headers.append: "a\r\nb" is an invalid header value.'))).toBe('deadletter');
    expect(classifyError(new PermanentError('no'))).toBe('deadletter');
  });

  it('describes the failure for the dead letter', () => {
    expect(describeFailure(connectionError('ECONNREFUSED'), 1000)).toBe('connection refused (ECONNREFUSED)');
    expect(describeFailure(new DOMException('x', 'TimeoutError'), 1500)).toBe('no answer within 1500 ms');
  });
});

describe('decide', () => {
  it('naks with the contract delay for the attempt that failed', () => {
    expect([1, 2, 3, 4].map((attempt) => decide('retry', attempt, FLOW))).toEqual([
      { action: 'retry', delayMs: 100 },
      { action: 'retry', delayMs: 200 },
      { action: 'retry', delayMs: 300 },
      { action: 'retry', delayMs: 400 },
    ]);
  });

  it('gives up on a retryable failure at the last allowed attempt (delivery count >= MaxDeliver)', () => {
    expect(decide('retry', 5, FLOW)).toEqual({ action: 'giveup' });
    expect(decide('retry', 2, { ...FLOW, maxDeliver: 2 })).toEqual({ action: 'giveup' });
    expect(decide('retry', 1, { ...FLOW, maxDeliver: 2 })).toEqual({ action: 'retry', delayMs: 100 });
  });

  it('waits as long as the stage asked (the worker’s per-type retry schedule), within the attempt limit', () => {
    expect(decide('retry', 1, FLOW, FLOW.maxDeliver, 7)).toEqual({ action: 'retry', delayMs: 7 });
    expect(decide('retry', 5, FLOW, FLOW.maxDeliver, 7)).toEqual({ action: 'giveup' });
    expect(toRetryAfterMs('{"error":"RETRYABLE_FAILURE","message":"m","retryAfterMs":250}')).toBe(250);
    for (const body of ['', '{"error":"X"}', '{"retryAfterMs":-1}', '{"retryAfterMs":"soon"}', '{"retryAfterMs":1.5}', 'retryAfterMs']) {
      expect(toRetryAfterMs(body), body).toBeUndefined();
    }
  });

  it('acks and dead-letters regardless of the attempt', () => {
    expect(decide('ack', 5, FLOW)).toEqual({ action: 'ack' });
    expect(decide('deadletter', 1, FLOW)).toEqual({ action: 'giveup' });
  });

  it('never gives up on a retryable failure without a delivery limit (-1), retrying at the last delay', () => {
    expect(decide('retry', 5, FLOW, -1)).toEqual({ action: 'retry', delayMs: 500 });
    expect(decide('retry', 40, FLOW, -1)).toEqual({ action: 'retry', delayMs: 500 });
    expect(decide('deadletter', 1, FLOW, -1)).toEqual({ action: 'giveup' });
  });
});

describe('headers and response details', () => {
  const event = createEvent({ id: 'e-1', component: 'gateway', type: EVENT_TYPES.submitted, taskId: 't-1', data: { a: 1 }, timeMs: 0 });

  it('builds binary-mode headers with the delivery attempt and max deliver, replacing stale ones', () => {
    const headers = toDeliveryHeaders({ ...event, deliveryattempt: '9', traceparent: '00-aa-bb-01' }, 2, 5);
    expect(headers).toMatchObject({
      'content-type': 'application/json',
      'ce-id': 'e-1',
      'ce-specversion': '1.0',
      'ce-type': EVENT_TYPES.submitted,
      'ce-subject': 't-1',
      'ce-traceparent': '00-aa-bb-01',
      'ce-deliveryattempt': '2',
      'ce-maxdeliver': '5',
    });
    expect(headers).not.toHaveProperty('ce-data');
  });

  it('builds a batch element with this delivery’s attempt and limit, replacing stale ones', () => {
    const stale = { ...event, deliveryattempt: '9', maxdeliver: '7' };
    expect(toBatchedEvent(stale, 2, 5)).toEqual({ ...event, deliveryattempt: '2', maxdeliver: '5' });
    // No limit (records on EVENTS): no maxdeliver, whatever the event carried.
    expect(toBatchedEvent(stale, 3, -1)).toEqual({ ...event, deliveryattempt: '3' });
    expect(stale).toMatchObject({ deliveryattempt: '9', maxdeliver: '7' });
  });

  it('finds header values that cannot be sent', () => {
    expect(findUnsendableHeader({ 'ce-id': 'ok' })).toBeUndefined();
    expect(findUnsendableHeader({ 'ce-x': 'a\r\nb' })).toMatch(/ce-x contains a line break/);
    expect(findUnsendableHeader({ 'ce-x': 'snow ☃' })).toMatch(/outside ISO-8859-1/);
  });

  it('takes the message of the runtime error body', () => {
    expect(toResponseDetail(400, 'Bad Request', '{"error":"VALIDATION_FAILED","message":"payload.ms must be a number"}')).toBe(
      '400 VALIDATION_FAILED: payload.ms must be a number',
    );
    expect(toResponseDetail(502, 'Bad Gateway', 'upstream down')).toBe('502 Bad Gateway: upstream down');
    expect(toResponseDetail(503, 'Service Unavailable', '')).toBe('503 Service Unavailable');
  });
});

// --- the deliverer, with fake NATS and a fake sink -------------------------------------------

type Sent = { subject: string; event: WireEvent };

function fakePublisher(): Publisher & { sent: Sent[] } {
  const sent: Sent[] = [];
  return {
    sent,
    async publish(subject, event) {
      sent.push({ subject, event });
    },
  };
}

function message(consumer: ConsumerSpec, data: Uint8Array, deliveryCount = 1, streamSequence = 7): PulledMessage {
  return { consumer, priority: 0, data, ackSubject: `$JS.ACK.${consumer.stream}.${consumer.durable}.${deliveryCount}.${streamSequence}.1.1.0`, deliveryCount, streamSequence };
}

function taskEvent(taskId = 't-1', data: unknown = { taskId }): WireEvent {
  return createEvent({ id: `${taskId}:scheduled`, component: 'scheduler', type: EVENT_TYPES.scheduled, taskId, data, timeMs: 0 });
}

type Request = { url: string; headers: Record<string, string>; body: string };

function setup(options: { functionName?: string; respond?: (request: Request) => Response | Promise<Response>; batch?: BatchPoster } = {}) {
  const publisher = fakePublisher();
  const settled: string[] = [];
  const requests: Request[] = [];
  // The sink over a fake poster: each request as the test's `respond` answers it.
  const poster = {
    async post(post: { headers: Record<string, string>; body: string | Buffer | undefined }) {
      const request = { url: 'http://sink.test/', headers: post.headers, body: String(post.body ?? '') };
      requests.push(request);
      const response = options.respond ? await options.respond(request) : new Response(null, { status: 204 });
      return { status: response.status, statusText: response.statusText, body: await response.text() };
    },
  };
  const metrics = createSourceMetrics([...CONSUMERS.worker, ...CONSUMERS.audit]);
  const deliverer = createDeliverer({
    functionName: options.functionName ?? 'worker',
    sink: 'http://sink.test/',
    requestTimeoutMs: 1000,
    flow: FLOW,
    acks: {
      ack: (m) => void settled.push(`ack #${m.streamSequence}`),
      nak: (m, delayMs) => void settled.push(`nak #${m.streamSequence} ${delayMs}`),
      term: (m) => void settled.push(`term #${m.streamSequence}`),
    },
    publisher,
    poster,
    now: () => 1_000,
    logger: createLogger('test', 'silent'),
    metrics,
    publishRetryMs: 1,
    batch: options.batch,
  });
  const deadLetters = () => publisher.sent.filter((s) => s.subject === SUBJECTS.deadletter).map((s) => s.event);
  const statuses = () => publisher.sent.filter((s) => s.subject === SUBJECTS.status).flatMap((s) => toStatusUpdates(s.event));
  return { deliverer, publisher, settled, requests, metrics, deadLetters, statuses };
}

const never = new AbortController().signal;
const high = CONSUMERS.worker[0];

describe('createDeliverer', () => {
  it('POSTs a binary-mode event and acks it on 2xx', async () => {
    const { deliverer, requests, settled, metrics } = setup();
    const outcome = await deliverer.deliver(message(high, toWireBytes(taskEvent('t-9', { x: 1 })), 2), never);
    expect(outcome).toBe('ack');
    expect(settled).toEqual(['ack #7']);
    expect(requests).toHaveLength(1);
    expect(requests[0]!.headers).toMatchObject({ 'ce-id': 't-9:scheduled', 'ce-deliveryattempt': '2', 'ce-maxdeliver': '5' });
    expect(JSON.parse(requests[0]!.body)).toEqual({ x: 1 });
    expect(metrics.snapshot().outcomes['worker-high']!.ack).toBe(1);
    expect(metrics.snapshot().deliveries['worker-high']).toBe(1);
  });

  it('naks a retryable answer with the delay of its attempt', async () => {
    const { deliverer, settled, deadLetters } = setup({ respond: () => new Response('busy', { status: 503 }) });
    expect(await deliverer.deliver(message(high, toWireBytes(taskEvent()), 3), never)).toBe('retry');
    expect(settled).toEqual(['nak #7 300']);
    expect(deadLetters()).toEqual([]);
  });

  it('naks when the sink cannot be reached', async () => {
    const { deliverer, settled } = setup({ respond: () => Promise.reject(connectionError('ECONNREFUSED')) });
    expect(await deliverer.deliver(message(high, toWireBytes(taskEvent()), 1), never)).toBe('retry');
    expect(settled).toEqual(['nak #7 100']);
  });

  it('dead-letters a 400 with status and reason, fails the task, then terminates', async () => {
    const body = JSON.stringify({ error: 'VALIDATION_FAILED', message: 'payload is not JSON' });
    const { deliverer, settled, deadLetters, statuses } = setup({ respond: () => new Response(body, { status: 400 }) });
    expect(await deliverer.deliver(message(high, toWireBytes(taskEvent('t-2')), 1), never)).toBe('deadletter');
    const [letter] = deadLetters();
    expect(deadLetters()).toHaveLength(1);
    expect(letter!.subject).toBe('t-2');
    expect(letter!.source).toBe('/taskmanager/source-worker');
    const data = letter!.data as DeadLetterData;
    expect(data).toMatchObject({ taskId: 't-2', stage: 'source:worker', attempts: 1 });
    expect(data.reason).toContain('400 VALIDATION_FAILED: payload is not JSON');
    expect((data.event as WireEvent).id).toBe('t-2:scheduled');
    expect(statuses()).toEqual([expect.objectContaining({ taskId: 't-2', state: 'FAILED', attempt: 1, message: data.reason })]);
    expect(settled).toEqual(['term #7']);
  });

  it('gives up on the last attempt of a retryable failure, saying why', async () => {
    const { deliverer, settled, deadLetters, statuses } = setup({ respond: () => Promise.reject(connectionError('ECONNREFUSED')) });
    expect(await deliverer.deliver(message(high, toWireBytes(taskEvent('t-3')), 5), never)).toBe('deadletter');
    const data = deadLetters()[0]!.data as DeadLetterData;
    expect(data.reason).toBe('undeliverable to worker after 5 attempts: connection refused (ECONNREFUSED)');
    expect(data.attempts).toBe(5);
    expect(statuses()[0]!.message).toBe(data.reason);
    expect(settled).toEqual(['term #7']);
  });

  it('gives each failed event of one task its own dead letter, stable across redeliveries', async () => {
    const { deliverer, deadLetters } = setup({ functionName: 'audit', respond: () => new Response('{}', { status: 422 }) });
    const audit = CONSUMERS.audit[0];
    const first = createEvent({ id: 't-4:audit:a', component: 'ingest', type: EVENT_TYPES.auditRecorded, taskId: 't-4', data: {} });
    const second = { ...first, id: 't-4:audit:b' };
    await deliverer.deliver(message(audit, toWireBytes(first)), never);
    await deliverer.deliver(message(audit, toWireBytes(second)), never);
    await deliverer.deliver(message(audit, toWireBytes(first), 2), never);
    const ids = deadLetters().map((e) => e.id);
    expect(new Set(ids).size).toBe(2);
    expect(ids[0]).toBe(ids[2]);
  });

  it('keeps retrying a status event its notifier cannot take, past MaxDeliver: a lost status would strand its task', async () => {
    const { deliverer, settled, deadLetters, requests } = setup({ functionName: 'notifier', respond: () => Promise.reject(connectionError('ECONNREFUSED')) });
    const event = createEvent({ id: 's-1', component: 'result-store', type: EVENT_TYPES.statusChanged, taskId: 't-7', data: {} });
    expect(await deliverer.deliver(message(CONSUMERS.notifier[0], toWireBytes(event), 5), never)).toBe('retry');
    expect(await deliverer.deliver(message(CONSUMERS.notifier[0], toWireBytes(event), 9), never)).toBe('retry');
    expect(settled).toEqual(['nak #7 500', 'nak #7 500']);
    expect(deadLetters()).toEqual([]);
    expect(requests[0]!.headers['ce-deliveryattempt']).toBe('5');
    expect(requests[0]!.headers).not.toHaveProperty('ce-maxdeliver');
  });

  it('publishes no FAILED status for an EVENTS-stream event', async () => {
    const { deliverer, deadLetters, statuses, settled } = setup({ functionName: 'audit', respond: () => new Response('', { status: 403 }) });
    const event = createEvent({ id: 'a-1', component: 'ingest', type: EVENT_TYPES.auditRecorded, taskId: 't-5', data: {} });
    expect(await deliverer.deliver(message(CONSUMERS.audit[0], toWireBytes(event)), never)).toBe('deadletter');
    expect(deadLetters()).toHaveLength(1);
    expect((deadLetters()[0]!.data as DeadLetterData).stage).toBe('source:audit');
    expect(statuses()).toEqual([]);
    expect(settled).toEqual(['term #7']);
  });

  it('the deadletter stage source only terminates: no dead letter of a dead letter', async () => {
    const { deliverer, publisher, settled } = setup({ functionName: 'deadletter', respond: () => new Response('', { status: 400 }) });
    const event = createEvent({ id: 'd-1', component: 'worker', type: EVENT_TYPES.deadlettered, taskId: 't-6', data: {} });
    expect(await deliverer.deliver(message(CONSUMERS.deadletter[0], toWireBytes(event)), never)).toBe('deadletter');
    expect(publisher.sent).toEqual([]);
    expect(settled).toEqual(['term #7']);
  });

  it('dead-letters bytes that are not a CloudEvent without calling the sink', async () => {
    const { deliverer, requests, deadLetters, statuses, settled } = setup();
    const outcome = await deliverer.deliver(message(high, new TextEncoder().encode('not json'), 1, 11), never);
    expect(outcome).toBe('deadletter');
    expect(requests).toEqual([]);
    const data = deadLetters()[0]!.data as DeadLetterData;
    expect(data.reason).toMatch(/^TASKS #11 is not a valid CloudEvent: message is not a JSON CloudEvent/);
    expect(data.event).toMatchObject({ stream: 'TASKS', sequence: 11, raw: 'not json' });
    expect(statuses()).toEqual([]);
    expect(settled).toEqual(['term #11']);
  });

  it('dead-letters an event whose attributes cannot be sent as headers', async () => {
    const { deliverer, requests, deadLetters, settled } = setup();
    const event = { ...taskEvent('t-7'), note: 'evil\r\nx-injected: 1' };
    expect(await deliverer.deliver(message(high, toWireBytes(event)), never)).toBe('deadletter');
    expect(requests).toEqual([]);
    expect((deadLetters()[0]!.data as DeadLetterData).reason).toMatch(/cannot be delivered to worker: .*ce-note contains a line break/);
    expect(settled).toEqual(['term #7']);
  });

  it('keeps trying to publish the dead letter while NATS is unavailable, then terminates', async () => {
    const { deliverer, publisher, settled, deadLetters } = setup({ respond: () => new Response('', { status: 400 }) });
    const publish = publisher.publish.bind(publisher);
    let failures = 2;
    publisher.publish = async (subject, event) => {
      if (failures-- > 0) throw new DependencyUnavailableError('nats down');
      await publish(subject, event);
    };
    expect(await deliverer.deliver(message(high, toWireBytes(taskEvent())), never)).toBe('deadletter');
    expect(deadLetters()).toHaveLength(1);
    expect(settled).toEqual(['term #7']);
  });

  it('leaves the message unsettled when shutdown abandons the delivery', async () => {
    const abandon = new AbortController();
    const { deliverer, settled } = setup({
      respond: (request) =>
        new Promise<Response>((_, reject) => {
          void request;
          abandon.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
        }),
    });
    const pending = deliverer.deliver(message(high, toWireBytes(taskEvent())), abandon.signal);
    abandon.abort();
    expect(await pending).toBe('abandoned');
    expect(settled).toEqual([]);
  });
});

describe('createDeliverer in batch mode', () => {
  const audit = CONSUMERS.audit[0];
  const auditEvent = (taskId = 't-1') =>
    createEvent({ id: `${taskId}:audit:1`, component: 'worker', type: EVENT_TYPES.auditRecorded, taskId, data: { taskId, action: 'handler.started' }, timeMs: 0 });

  /** A batch poster that answers each event with `answer` and remembers what it was given. */
  function fakeBatch(answer: BatchOutcome) {
    const posted: Record<string, unknown>[] = [];
    const batch: BatchPoster = {
      async post(json) {
        posted.push(JSON.parse(json) as Record<string, unknown>);
        return answer;
      },
    };
    return { batch, posted };
  }

  it('hands the event to the batch as a structured event with its attempt and limit, and acks a 204', async () => {
    const { batch, posted } = fakeBatch({ kind: 'answered', status: 204, body: '' });
    const { deliverer, settled, requests, metrics } = setup({ functionName: 'audit', batch });
    expect(await deliverer.deliver(message(audit, toWireBytes(auditEvent('t-4')), 2), never)).toBe('ack');
    expect(posted).toHaveLength(1);
    expect(posted[0]).toMatchObject({ id: 't-4:audit:1', type: EVENT_TYPES.auditRecorded, subject: 't-4', deliveryattempt: '2', data: { taskId: 't-4' } });
    expect(posted[0]).not.toHaveProperty('maxdeliver'); // records on EVENTS have no last attempt
    expect(requests).toEqual([]);
    expect(settled).toEqual(['ack #7']);
    expect(metrics.snapshot().deliveries['audit']).toBe(1);
  });

  it('settles each event by its own result: a retryable one is naked, a refused one dead-lettered', async () => {
    const busy = setup({ functionName: 'audit', batch: fakeBatch({ kind: 'answered', status: 503, body: '{"error":"DEPENDENCY_UNAVAILABLE","message":"redis is down"}' }).batch });
    expect(await busy.deliverer.deliver(message(audit, toWireBytes(auditEvent()), 1), never)).toBe('retry');
    expect(busy.settled).toEqual(['nak #7 100']);

    const refused = setup({ functionName: 'audit', batch: fakeBatch({ kind: 'answered', status: 400, body: '{"error":"VALIDATION_FAILED","message":"data.action is wrong"}' }).batch });
    expect(await refused.deliverer.deliver(message(audit, toWireBytes(auditEvent('t-5')), 1), never)).toBe('deadletter');
    expect((refused.deadLetters()[0]!.data as DeadLetterData).reason).toBe('audit refused the event: 400 VALIDATION_FAILED: data.action is wrong');
    expect(refused.settled).toEqual(['term #7']);
  });

  it('naks when the batch request failed', async () => {
    const { batch } = fakeBatch({ kind: 'failed', error: connectionError('ECONNREFUSED') });
    const { deliverer, settled } = setup({ functionName: 'audit', batch });
    expect(await deliverer.deliver(message(audit, toWireBytes(auditEvent()), 1), never)).toBe('retry');
    expect(settled).toEqual(['nak #7 100']);
  });

  it('delivers the event alone, in binary mode, when the stage answered the batch as a whole', async () => {
    const { batch, posted } = fakeBatch({ kind: 'unbatched' });
    const { deliverer, settled, requests, metrics } = setup({ functionName: 'audit', batch });
    expect(await deliverer.deliver(message(audit, toWireBytes(auditEvent('t-6')), 1), never)).toBe('ack');
    expect(posted).toHaveLength(1);
    expect(requests.map((request) => request.headers['ce-id'])).toEqual(['t-6:audit:1']);
    expect(settled).toEqual(['ack #7']);
    expect(metrics.snapshot().deliveries['audit']).toBe(1);
  });

  it('leaves an abandoned event unsettled, for JetStream to redeliver', async () => {
    const { deliverer, settled } = setup({ functionName: 'audit', batch: fakeBatch({ kind: 'abandoned' }).batch });
    expect(await deliverer.deliver(message(audit, toWireBytes(auditEvent()), 1), never)).toBe('abandoned');
    expect(settled).toEqual([]);
  });
});
