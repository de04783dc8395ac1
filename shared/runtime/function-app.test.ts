// Adapter tier (STYLE.md): the real HTTP app on port 0, real HTTP requests, a tiny handler.
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { gzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DependencyUnavailableError, RetryableError, ValidationError } from '../errors';
import { createEvent, type WireEvent } from '../events';
import { createLogger } from '../logger';
import { createFunctionApp, type EventHandler, type FunctionApp, type HandlerContext } from './function-app';
import { toBinaryHeaders } from './http-message';
import { postBinary, postStructured } from '../../test/helpers/events';
import { waitFor } from '../../test/helpers/ports';

const TYPE = 'test.thing.happened';
const BODY_LIMIT = 4 * 1024;

type Seen = { event: WireEvent; attempt: number; maxDeliver: number | undefined };

/** A handler whose behaviour each test picks through the event's data. */
function createTestHandler(seen: Seen[], gates: Map<string, Promise<void>>): EventHandler {
  return {
    acceptedTypes: [TYPE],
    async handle(event: WireEvent, ctx: HandlerContext) {
      seen.push({ event, attempt: ctx.attempt, maxDeliver: ctx.maxDeliver });
      const action = (event.data as { action?: string } | undefined)?.action;
      if (action === 'validation') throw new ValidationError('field "x" is wrong', { field: 'x' });
      if (action === 'unavailable') throw new DependencyUnavailableError('redis is down');
      if (action === 'retryable') throw new RetryableError('try again later');
      if (action === 'retry-later') throw new RetryableError('try again in a while', { retryAfterMs: 1_500 });
      if (action === 'crash') throw new Error('unexpected crash');
      if (action === 'throw-string') throw 'a bare string';
      const gate = action ? gates.get(action) : undefined;
      if (gate) await gate;
    },
  };
}

function testEvent(data: unknown = { action: 'ok' }, overrides: Partial<WireEvent> = {}): WireEvent {
  return { ...createEvent({ id: 'e-1', component: 'tester', type: TYPE, taskId: 't-1', data }), ...overrides };
}

async function bodyOf(response: Response): Promise<{ error: string; message: string }> {
  return (await response.json()) as { error: string; message: string };
}

describe('function runtime over HTTP', () => {
  const seen: Seen[] = [];
  const gates = new Map<string, Promise<void>>();
  let fnApp: FunctionApp;
  let server: Server;
  let url: string;

  beforeAll(async () => {
    fnApp = createFunctionApp({
      component: 'tester',
      handler: createTestHandler(seen, gates),
      logger: createLogger('test', 'silent'),
      bodyLimitBytes: BODY_LIMIT,
    });
    server = await fnApp.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  afterAll(async () => {
    await fnApp.drain(1_000);
  });

  beforeEach(() => {
    seen.length = 0;
  });

  describe('accepted events', () => {
    it('a binary-mode event is handled and answered 204, its data parsed', async () => {
      const response = await postBinary(url, testEvent({ action: 'ok', n: 1 }));
      expect(response.status).toBe(204);
      expect(seen).toHaveLength(1);
      expect(seen[0]!.event).toMatchObject({ id: 'e-1', type: TYPE, subject: 't-1', data: { action: 'ok', n: 1 } });
    });

    it('a binary-mode event with "application/json; charset=utf-8" is accepted', async () => {
      const event = testEvent();
      const response = await fetch(url, {
        method: 'POST',
        headers: { ...toBinaryHeaders(event), 'content-type': 'Application/JSON; charset=utf-8' },
        body: JSON.stringify(event.data),
      });
      expect(response.status).toBe(204);
      expect(seen[0]!.event.data).toEqual({ action: 'ok' });
    });

    it('a structured-mode event is accepted, including with "; charset=utf-8"', async () => {
      const response = await postStructured(url, testEvent({ action: 'ok', mode: 'structured' }));
      expect(response.status).toBe(204);
      const plain = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents+json' },
        body: JSON.stringify(testEvent({ action: 'ok', mode: 'plain' })),
      });
      expect(plain.status).toBe(204);
      expect(seen.map((s) => (s.event.data as { mode: string }).mode)).toEqual(['structured', 'plain']);
    });

    it('ce-deliveryattempt and ce-maxdeliver reach the handler as ctx.attempt and ctx.maxDeliver', async () => {
      const response = await postBinary(url, testEvent(undefined, { deliveryattempt: '3', maxdeliver: '5' }));
      expect(response.status).toBe(204);
      expect(seen[0]).toMatchObject({ attempt: 3, maxDeliver: 5 });
    });

    it('without those extensions the attempt is 1 and maxDeliver unknown', async () => {
      await postBinary(url, testEvent());
      expect(seen[0]).toMatchObject({ attempt: 1, maxDeliver: undefined });
    });
  });

  describe('refused events (400 naming the reason, handler not called)', () => {
    async function expectRefused(response: Response, status: number, reason: RegExp): Promise<void> {
      expect(response.status).toBe(status);
      const body = await bodyOf(response);
      expect(body.message).toMatch(reason);
      expect(seen).toHaveLength(0);
    }

    it.each(['id', 'source', 'type'])('binary mode without ce-%s', async (attribute) => {
      const headers = toBinaryHeaders(testEvent());
      delete headers[`ce-${attribute}`];
      const response = await fetch(url, { method: 'POST', headers, body: '{}' });
      await expectRefused(response, 400, new RegExp(`"${attribute}"`));
    });

    it.each(['id', 'source', 'type', 'specversion'])('structured mode without %s', async (attribute) => {
      const event: Record<string, unknown> = { ...testEvent() };
      delete event[attribute];
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents+json' },
        body: JSON.stringify(event),
      });
      await expectRefused(response, 400, new RegExp(`"${attribute}"`));
    });

    it('a wrong specversion (binary and structured)', async () => {
      await expectRefused(await postBinary(url, testEvent(undefined, { specversion: '0.3' })), 400, /specversion "0\.3"/);
      await expectRefused(await postStructured(url, testEvent(undefined, { specversion: '2.0' })), 400, /specversion "2\.0"/);
    });

    it('an event type the stage does not accept, naming the type', async () => {
      const response = await postBinary(url, testEvent(undefined, { type: 'other.type' }));
      await expectRefused(response, 400, /unsupported event type "other\.type".*test\.thing\.happened/);
    });

    it('binary mode with a body that is not application/json', async () => {
      const event = testEvent();
      const response = await fetch(url, {
        method: 'POST',
        headers: { ...toBinaryHeaders(event), 'content-type': 'text/plain' },
        body: 'hello',
      });
      await expectRefused(response, 400, /content-type "text\/plain"/);
    });

    it('invalid JSON (binary data and a structured event)', async () => {
      const binary = await fetch(url, { method: 'POST', headers: toBinaryHeaders(testEvent()), body: '{"action":' });
      await expectRefused(binary, 400, /not valid JSON/);
      const structured = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents+json' },
        body: '{"specversion":"1.0",',
      });
      await expectRefused(structured, 400, /not valid JSON/);
    });

    it('a structured event that is a JSON array or string', async () => {
      for (const body of ['[1,2]', '"event"']) {
        const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body });
        await expectRefused(response, 400, /must be a JSON object/);
      }
    });

    it('invalid UTF-8 (binary data and a structured event)', async () => {
      const garbage = new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]);
      const binary = await fetch(url, { method: 'POST', headers: toBinaryHeaders(testEvent()), body: garbage });
      await expectRefused(binary, 400, /not valid UTF-8/);
      const structured = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents+json' },
        body: garbage,
      });
      await expectRefused(structured, 400, /not valid UTF-8/);
    });

    it("a batch of CloudEvents, to a stage that does not take batches", async () => {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents-batch+json' },
        body: JSON.stringify([testEvent()]),
      });
      await expectRefused(response, 400, /batch/);
    });

    it('no CloudEvent at all (plain JSON, no ce- headers)', async () => {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
      await expectRefused(response, 400, /no CloudEvent in request.*"application\/json"/);
    });

    it('a structured event whose datacontenttype is not JSON', async () => {
      const response = await postStructured(url, testEvent('text', { datacontenttype: 'text/plain' }));
      await expectRefused(response, 400, /datacontenttype "text\/plain"/);
    });

    it('a body over the limit gets 413 naming the reason', async () => {
      const big = testEvent({ action: 'ok', filler: 'x'.repeat(BODY_LIMIT * 2) });
      await expectRefused(await postBinary(url, big), 413, /too large/i);
      await expectRefused(await postStructured(url, big), 413, /too large/i);
    });
    it('a body in an unsupported content-encoding gets 415 (not 500, which would be retried)', async () => {
      const response = await fetch(url, {
        method: 'POST',
        headers: { ...toBinaryHeaders(testEvent()), 'content-encoding': 'compress' },
        body: '{}',
      });
      await expectRefused(response, 415, /unsupported content encoding "compress"/);
    });

    it('a corrupt gzip body gets 400', async () => {
      const response = await fetch(url, {
        method: 'POST',
        headers: { ...toBinaryHeaders(testEvent()), 'content-encoding': 'gzip' },
        body: '{"not":"gzip"}',
      });
      await expectRefused(response, 400, /header/);
    });
  });

  it('a gzip-encoded binary event is inflated and handled', async () => {
    const event = testEvent({ action: 'ok', zipped: true });
    const response = await fetch(url, {
      method: 'POST',
      headers: { ...toBinaryHeaders(event), 'content-encoding': 'gzip' },
      body: gzipSync(JSON.stringify(event.data)),
    });
    expect(response.status).toBe(204);
    expect(seen[0]!.event.data).toEqual({ action: 'ok', zipped: true });
  });

  describe('handler errors map to the Knative data-plane statuses, naming the reason', () => {
    it.each([
      ['validation', 400, 'VALIDATION_FAILED', /field "x" is wrong/],
      ['unavailable', 503, 'DEPENDENCY_UNAVAILABLE', /redis is down/],
      ['retryable', 500, 'RETRYABLE_FAILURE', /try again later/],
      ['crash', 500, 'INTERNAL', /unexpected crash/],
      ['throw-string', 500, 'INTERNAL', /a bare string/],
    ])('a handler throwing %s → %i', async (action, status, code, reason) => {
      const response = await postBinary(url, testEvent({ action }));
      expect(response.status).toBe(status);
      const body = await bodyOf(response);
      expect(body.error).toBe(code);
      expect(body.message).toMatch(reason);
      expect(seen).toHaveLength(1);
    });

    it('a retryable error that names its wait passes it to the source (retryAfterMs); others do not', async () => {
      const later = (await (await postBinary(url, testEvent({ action: 'retry-later' }))).json()) as Record<string, unknown>;
      expect(later).toEqual({ error: 'RETRYABLE_FAILURE', message: 'try again in a while', retryAfterMs: 1_500 });
      const plain = (await (await postBinary(url, testEvent({ action: 'retryable' }))).json()) as Record<string, unknown>;
      expect(plain).not.toHaveProperty('retryAfterMs');
    });
  });

  it('liveness answers 200', async () => {
    const response = await fetch(`${url}health/liveness`);
    expect(response.status).toBe(200);
  });

  it('readiness follows the isReady condition', async () => {
    let ready = false;
    const app = createFunctionApp({
      component: 'tester',
      handler: createTestHandler([], new Map()),
      logger: createLogger('test', 'silent'),
      bodyLimitBytes: BODY_LIMIT,
      isReady: () => ready,
    });
    const own = await app.listen(0, '127.0.0.1');
    const readiness = `http://127.0.0.1:${(own.address() as AddressInfo).port}/health/readiness`;
    try {
      expect((await fetch(readiness)).status).toBe(503);
      ready = true;
      expect((await fetch(readiness)).status).toBe(200);
    } finally {
      await app.drain(1_000);
    }
  });
});

describe('draining', () => {
  it('readiness turns 503, new events get 503, and drain waits for the in-flight event to finish', async () => {
    const seen: Seen[] = [];
    const gates = new Map<string, Promise<void>>();
    let release!: () => void;
    gates.set('slow', new Promise<void>((resolve) => (release = resolve)));
    const fnApp = createFunctionApp({
      component: 'tester',
      handler: createTestHandler(seen, gates),
      logger: createLogger('test', 'silent'),
      bodyLimitBytes: BODY_LIMIT,
    });
    const server = await fnApp.listen(0, '127.0.0.1');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    // drain() closes the listener, so a second server over the same app observes the drain state.
    const observer = createServer(fnApp.router.listener).listen(0, '127.0.0.1');
    await once(observer, 'listening');
    const observerUrl = `http://127.0.0.1:${(observer.address() as AddressInfo).port}/`;

    try {
      expect((await fetch(`${observerUrl}health/readiness`)).status).toBe(200);

      const inFlight = postBinary(url, testEvent({ action: 'slow' }));
      await waitFor('the slow event to be in flight', () => fnApp.inFlight() === 1);

      let drained = false;
      const draining = fnApp.drain(10_000).then(() => (drained = true));

      const readiness = await fetch(`${observerUrl}health/readiness`);
      expect(readiness.status).toBe(503);
      expect(await readiness.json()).toMatchObject({ draining: true });
      const refused = await postBinary(observerUrl, testEvent({ action: 'ok' }));
      expect(refused.status).toBe(503);
      expect((await bodyOf(refused)).message).toMatch(/shutting down/);
      expect(drained).toBe(false);

      release();
      const response = await inFlight;
      expect(response.status).toBe(204);
      await draining;
      expect(drained).toBe(true);
      expect(fnApp.inFlight()).toBe(0);
      expect(seen.map((s) => (s.event.data as { action: string }).action)).toEqual(['slow']);
    } finally {
      release();
      observer.close();
    }
  });

  it('drain gives up after its timeout when an event never finishes', async () => {
    const gates = new Map<string, Promise<void>>([['stuck', new Promise<void>(() => undefined)]]);
    const fnApp = createFunctionApp({
      component: 'tester',
      handler: createTestHandler([], gates),
      logger: createLogger('test', 'silent'),
      bodyLimitBytes: BODY_LIMIT,
    });
    const server = await fnApp.listen(0, '127.0.0.1');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const stuck = postBinary(url, testEvent({ action: 'stuck' })).catch((error: unknown) => error);
    await waitFor('the stuck event to be in flight', () => fnApp.inFlight() === 1);
    await fnApp.drain(200);
    // The connection is cut, so the source sees a failed delivery and retries it elsewhere.
    expect(await stuck).toBeInstanceOf(Error);
  });
});

describe('batch mode (a stage whose handler accepts batches)', () => {
  const seen: Seen[] = [];
  let fnApp: FunctionApp;
  let url: string;

  beforeAll(async () => {
    const handler = createTestHandler(seen, new Map());
    fnApp = createFunctionApp({
      component: 'batcher',
      handler: { ...handler, acceptsBatches: true, handle: handler.handle.bind(handler) },
      logger: createLogger('test', 'silent'),
      bodyLimitBytes: BODY_LIMIT,
    });
    const server = await fnApp.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  afterAll(async () => {
    await fnApp.drain(1_000);
  });

  beforeEach(() => {
    seen.length = 0;
  });

  const postBatch = (body: unknown) =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents-batch+json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  it('handles every event and answers 200 with one result per event, in order', async () => {
    const events = ['a', 'b', 'c'].map((id) => testEvent({ action: 'ok' }, { id, deliveryattempt: '2', maxdeliver: '5' }));
    const response = await postBatch(events);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ results: ['a', 'b', 'c'].map((id) => ({ id, status: 204 })) });
    expect(seen.map((s) => [s.event.id, s.attempt, s.maxDeliver]).sort()).toEqual([['a', 2, 5], ['b', 2, 5], ['c', 2, 5]]);
  });

  it('answers 207 when some events fail, each with the status it would have had alone', async () => {
    const response = await postBatch([
      testEvent({ action: 'ok' }, { id: 'ok' }),
      testEvent({ action: 'validation' }, { id: 'bad' }),
      testEvent({ action: 'unavailable' }, { id: 'down' }),
      { ...testEvent({ action: 'ok' }, { id: 'other' }), type: 'test.other.type' },
      { specversion: '1.0', id: 'no-source', type: TYPE },
    ]);
    expect(response.status).toBe(207);
    const body = (await response.json()) as { results: { id?: string; status: number; error?: string; message?: string }[]; message: string };
    expect(body.results.map((result) => result.status)).toEqual([204, 400, 503, 400, 400]);
    expect(body.results[1]!.message).toMatch(/field "x" is wrong/);
    expect(body.results[3]!.message).toMatch(/unsupported event type "test.other.type"/);
    expect(body.results[4]!.message).toMatch(/"source"/);
    expect(body.message).toMatch(/^4 of 5 events not handled; event 1: 400/);
    // The valid ones ran; the invalid ones never reached the handler.
    expect(seen.map((s) => s.event.id).sort()).toEqual(['bad', 'down', 'ok']);
  });

  it.each([
    ['not JSON', '[{', /not valid JSON/],
    ['not an array', JSON.stringify(testEvent()), /JSON array/],
    ['an empty array', '[]', /empty/],
    ['too many events', JSON.stringify(Array.from({ length: 1_001 }, () => 1)), /1001 events; at most 1000/],
  ])('refuses a body that is %s as a whole, naming the problem', async (_what, body, reason) => {
    const response = await postBatch(body);
    expect(response.status).toBe(400);
    expect((await bodyOf(response)).message).toMatch(reason);
    expect(seen).toHaveLength(0);
  });

  it('still takes single events in binary and structured mode', async () => {
    expect((await postBinary(url, testEvent())).status).toBe(204);
    expect((await postStructured(url, testEvent())).status).toBe(204);
    expect(seen).toHaveLength(2);
  });
});
