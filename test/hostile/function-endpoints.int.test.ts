// Hostile input against every function's HTTP endpoint (issue 3, docs/design.md §5.8): the seven
// CloudEvents stages and the enricher run in-process (startFunction / startEnricher on port 0)
// against real nats-server and redis-server. Requests go over a plain TCP socket (raw-http.ts),
// so they can carry what fetch refuses to send. Every malformed request must get a 4xx whose
// body names the problem (a batch to a stage that takes batches: 207, naming each bad event's) — never a 5xx, which the source would retry — and write nothing: no
// Redis write command (keyspace notifications) and no publish on tasks.> or events.>. Afterwards
// every function still answers its health endpoint, and a valid event still gets through.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definition as audit } from '../../functions/audit/definition';
import { definition as deadletter } from '../../functions/deadletter/definition';
import { startEnricher, type RunningEnricher } from '../../functions/enricher/server';
import { definition as ingest } from '../../functions/ingest/definition';
import { definition as notifier } from '../../functions/notifier/definition';
import { definition as resultStore } from '../../functions/result-store/definition';
import { definition as scheduler } from '../../functions/scheduler/definition';
import { definition as worker } from '../../functions/worker/definition';
import { createEnvReader, readFlowSettings } from '../../shared/config';
import { EVENT_TYPES } from '../../shared/contract';
import { createLogger } from '../../shared/logger';
import { setupFlow } from '../../shared/flow-setup';
import { FUNCTIONS } from '../../shared/topology';
import { startFunction, type FunctionDefinition, type RunningFunction } from '../../shared/runtime/start-function';
import { startNatsServer, startRedisServer, type TestServer } from '../helpers/servers';
import { CONTROL_CHARS, deeplyNested, deeplyNestedObject, INVALID_UTF8, notJson, spliceBytes } from './arbitraries';
import { rawHttp, sendRaw, type RawRequest, type RawResponse } from './raw-http';
import { watchWrites, type WriteWatch } from './write-watch';

const logger = createLogger('hostile-functions', 'silent');
const NUM_RUNS = Number(process.env.TM_FUZZ_RUNS ?? 300);
/** The shipped default (TM_BODY_LIMIT_BYTES): NATS max_payload. */
const BODY_LIMIT_BYTES = 1024 * 1024;
const ENRICHER_BODY_LIMIT_BYTES = 64 * 1024;

// ---- the stages and a valid event for each --------------------------------------------------

type AnyDefinition = FunctionDefinition<unknown>;

type Stage = {
  name: string;
  definition: AnyDefinition;
  eventType: string;
  /** Every event type the stage takes, when more than `eventType` (the audit stage also reads
   * status events, which carry their step's audit record). */
  alsoAccepts?: readonly string[];
  /** Valid data for a task id; the notifier also needs the CloudEvent subject to match it. */
  data: (taskId: string) => Record<string, unknown>;
  /** Required fields of the data, each with values of the wrong type or out of range (a function
   * builds the value from the task id, to keep everything else about the event consistent). */
  wrong: Record<string, readonly unknown[]>;
};

const now = Date.now();
const envelope = (taskId: string): Record<string, unknown> => ({
  taskId, type: 'echo', payload: '{"hello":"world"}', priority: 'high', metadata: { origin: 'hostile' }, maxAttempts: 5, createdAtMs: now, notBeforeMs: 0, tenant: 'default',
});
const NOT_A_STRING = [null, 1, true, [], {}] as const;
const NOT_A_COUNT = [null, '1', -1, 1.5, [], {}] as const;
const NOT_A_TIME = [null, '1', -1, 1.5, 1e308, [], {}] as const;
/** Task ids reach Redis keys and, inside event ids, the Nats-Msg-Id header. */
const BAD_TASK_IDS = [...NOT_A_STRING, '', 'a\r\nb', 'a\nNats-Msg-Id: x', 'a b', '\u0000', 'é', 'x'.repeat(257)] as const;
const ENVELOPE_WRONG: Record<string, readonly unknown[]> = {
  taskId: BAD_TASK_IDS,
  type: NOT_A_STRING,
  payload: NOT_A_STRING,
  priority: [null, 'urgent', 'HIGH', 'tasks.worker.>', 1, []],
  // A value that is not a string reaches the enricher, whose 400 ingest can only retry.
  metadata: [null, 'm', [], 1, { region: 5 }, { a: { b: 'c' } }],
  maxAttempts: [null, '5', [], {}],
  createdAtMs: NOT_A_TIME,
  // 1e308: the scheduler's `new Date(notBeforeMs).toISOString()` threw (500, retried).
  notBeforeMs: [...NOT_A_TIME, 8.64e15 + 1],
  tenant: NOT_A_STRING,
};

const STAGE_LIST: readonly Stage[] = [
  { name: 'ingest', definition: ingest as unknown as AnyDefinition, eventType: EVENT_TYPES.submitted, data: envelope, wrong: ENVELOPE_WRONG },
  { name: 'scheduler', definition: scheduler as unknown as AnyDefinition, eventType: EVENT_TYPES.accepted, data: envelope, wrong: ENVELOPE_WRONG },
  { name: 'worker', definition: worker as unknown as AnyDefinition, eventType: EVENT_TYPES.scheduled, data: envelope, wrong: ENVELOPE_WRONG },
  {
    name: 'result-store',
    definition: resultStore as unknown as AnyDefinition,
    eventType: EVENT_TYPES.finished,
    data: (taskId) => ({ task: envelope(taskId), state: 'SUCCEEDED', output: '{"ok":true}', error: '', attempts: 1, startedAtMs: now, finishedAtMs: now + 1 }),
    wrong: {
      task: [null, 'task', [], (id: string) => ({ ...envelope(id), notBeforeMs: 1e308 }), (id: string) => ({ ...envelope(id), metadata: { n: 1 } })],
      state: [null, 'DONE', 'succeeded', 'RUNNING', 1],
      output: NOT_A_STRING,
      error: NOT_A_STRING,
      attempts: [null, 0, -1, 1.5, '1', []],
      startedAtMs: [null, '1', [], {}],
      finishedAtMs: [null, '1', [], {}],
    },
  },
  {
    name: 'notifier',
    definition: notifier as unknown as AnyDefinition,
    eventType: EVENT_TYPES.statusChanged,
    data: (taskId) => ({ taskId, state: 'RUNNING', stage: 'worker', attempt: 1, message: 'attempt 1 of 5', progress: 40, updatedAtMs: now }),
    wrong: {
      taskId: [null, 1, '', 'another-task'],
      state: [null, 'DONE', 'running', 'TASK_STATE_UNSPECIFIED', 1],
      stage: [null, 1, [], {}],
      attempt: NOT_A_COUNT,
      progress: [null, '40', -1, 101, 1.5, 1e308],
      updatedAtMs: NOT_A_TIME,
    },
  },
  {
    name: 'audit',
    definition: audit as unknown as AnyDefinition,
    eventType: EVENT_TYPES.auditRecorded,
    alsoAccepts: [EVENT_TYPES.statusChanged],
    data: (taskId) => ({ taskId, stage: 'worker', action: 'handler.started', attempt: 1, detail: 'type echo', atMs: now }),
    wrong: { taskId: [...NOT_A_STRING, ''], stage: [...NOT_A_STRING, ''], action: [...NOT_A_STRING, ''], attempt: NOT_A_COUNT, atMs: NOT_A_TIME },
  },
  {
    name: 'deadletter',
    definition: deadletter as unknown as AnyDefinition,
    eventType: EVENT_TYPES.deadlettered,
    data: (taskId) => ({ taskId, stage: 'worker', reason: 'failed after 5 attempts', attempts: 5, lastError: 'boom', event: null, atMs: now }),
    wrong: { taskId: NOT_A_STRING, stage: [...NOT_A_STRING, ''], reason: NOT_A_STRING, attempts: NOT_A_COUNT, atMs: NOT_A_TIME },
  },
];

const STAGES = new Map(STAGE_LIST.map((stage) => [stage.name, stage]));
const stageOf = (name: string) => STAGES.get(name)!;

// ---- servers ----------------------------------------------------------------------------------

let natsServer: TestServer;
let redisServer: TestServer;
let nc: NatsConnection;
let writes: WriteWatch;
let enricher: RunningEnricher;
const running = new Map<string, RunningFunction>();
const portOf = (stage: Stage) => running.get(stage.name)!.port;

beforeAll(async () => {
  [natsServer, redisServer] = await Promise.all([startNatsServer(), startRedisServer()]);
  nc = await connect({ servers: natsServer.url });
  await setupFlow(nc, readFlowSettings(createEnvReader({})), logger);
  enricher = await startEnricher({ PORT: '0', LOG_LEVEL: 'silent', TM_SHUTDOWN_GRACE_MS: '500' });
  const env = {
    PORT: '0',
    NATS_URL: natsServer.url,
    REDIS_URL: redisServer.url,
    LOG_LEVEL: 'silent',
    TM_SHUTDOWN_GRACE_MS: '500',
    ENRICHER_URL: `http://127.0.0.1:${enricher.port}`,
  };
  for (const stage of STAGE_LIST) running.set(stage.name, await startFunction(stage.definition, env));
  writes = await watchWrites(redisServer.url, nc, ['tasks.>', 'events.>']);
});

afterAll(async () => {
  await writes?.stop();
  for (const fn of running.values()) await fn.stop();
  await enricher?.stop();
  await nc?.close();
  await Promise.all([natsServer?.stop(), redisServer?.stop()]);
});

// ---- requests ---------------------------------------------------------------------------------

type Headers = [string, string | Uint8Array][];

let eventCounter = 0;
function nextTaskId(): string {
  eventCounter += 1;
  return `hostile-${eventCounter}`;
}

/** The headers of a binary-mode delivery, as the source sends them. */
function binaryHeaders(stage: Stage, taskId: string): Headers {
  return [
    ['content-type', 'application/json'],
    ['ce-specversion', '1.0'],
    ['ce-id', `${taskId}:event`],
    ['ce-source', '/taskmanager/hostile-test'],
    ['ce-type', stage.eventType],
    ['ce-subject', taskId],
    ['ce-deliveryattempt', '1'],
  ];
}

function structuredEvent(stage: Stage, taskId: string): Record<string, unknown> {
  return {
    specversion: '1.0', id: `${taskId}:event`, source: '/taskmanager/hostile-test', type: stage.eventType, subject: taskId, datacontenttype: 'application/json', data: stage.data(taskId),
  };
}

function replaceHeader(headers: Headers, name: string, value: string | Uint8Array | undefined): Headers {
  const rest = headers.filter(([n]) => n !== name);
  return value === undefined ? rest : [...rest, [name, value]];
}

/** A request with exactly one thing wrong, and what the answer must say about it. */
type Hostile = { what: string; request: RawRequest; status: readonly number[]; message: RegExp };

const STRUCTURED = 'application/cloudevents+json';
const BATCH = 'application/cloudevents-batch+json';
/** Stages whose sources send batches (the topology's batchMaxEvents); their handlers take them. */
const BATCHING = new Set(FUNCTIONS.filter((fn) => fn.batchMaxEvents !== undefined).map((fn) => fn.name as string));
const bytesOf = (text: string, encoding: BufferEncoding) => Buffer.from(text, encoding);

function hostileRequests(stage: Stage): fc.Arbitrary<Hostile> {
  const taskId = nextTaskId();
  const headers = binaryHeaders(stage, taskId);
  const body = JSON.stringify(stage.data(taskId));
  const binary = (what: string, h: Headers, b: string | Uint8Array, status: readonly number[], message: RegExp): Hostile => ({
    what, request: { headers: h, body: b }, status, message,
  });
  const structured = (what: string, event: unknown, message: RegExp, contentType = STRUCTURED): Hostile => ({
    what,
    request: { headers: [['content-type', contentType]], body: typeof event === 'string' || event instanceof Uint8Array ? event : JSON.stringify(event) },
    status: [400],
    message,
  });
  const accepted = [stage.eventType, ...(stage.alsoAccepts ?? [])];
  const otherTypes = Object.values(EVENT_TYPES).filter((type) => !accepted.includes(type));
  return fc.oneof(
    // binary mode: attributes missing, empty or wrong
    fc.constantFrom('ce-id', 'ce-source', 'ce-type').map((name) =>
      binary(`no ${name}`, replaceHeader(headers, name, undefined), body, [400], new RegExp(`"${name.slice(3)}" is missing`)),
    ),
    fc.constantFrom('ce-id', 'ce-source', 'ce-type', 'ce-specversion').map((name) =>
      binary(`empty ${name}`, replaceHeader(headers, name, ''), body, [400], new RegExp(`"${name.slice(3)}" is missing or empty`)),
    ),
    fc.constant(binary('no ce-specversion', replaceHeader(headers, 'ce-specversion', undefined), body, [400], /no CloudEvent in request/)),
    fc
      .constantFrom('0.3', '2.0', '1', '1.0.0', 'v1.0', '1.0;', '1,0')
      .map((version) => binary(`specversion ${version}`, replaceHeader(headers, 'ce-specversion', version), body, [400], /specversion/)),
    fc
      .oneof(fc.constantFrom(...otherTypes, `${stage.eventType}.x`, stage.eventType.toUpperCase(), '*', '>'), fc.stringMatching(/^[a-z.]{1,30}$/))
      .filter((type) => !accepted.includes(type))
      .map((type) => binary(`type ${type}`, replaceHeader(headers, 'ce-type', type), body, [400], /unsupported event type/)),
    fc
      .constantFrom('yesterday', '2024-13-01T00:00:00Z', '1700000000')
      .map((time) => binary(`time ${time}`, [...headers, ['ce-time', time]], body, [400], /"time"/)),
    fc.constant(binary('source not a URI reference', replaceHeader(headers, 'ce-source', ':: not a uri'), body, [400], /"source"/)),
    // wrong content types and charsets
    fc
      .constantFrom('text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'application/jsonx', 'json', '*/*')
      .map((type) => binary(`content-type ${type}`, replaceHeader(headers, 'content-type', type), body, [400], /content-type/)),
    fc.constant(binary('no content-type', replaceHeader(headers, 'content-type', undefined), body, [400], /content-type "none"/)),
    fc.constant(
      binary('UTF-16 body', replaceHeader(headers, 'content-type', 'application/json; charset=utf-16le'), bytesOf(body, 'utf16le'), [400], /not valid JSON|UTF-8/),
    ),
    fc.constant(
      binary('Latin-1 body', replaceHeader(headers, 'content-type', 'application/json; charset=iso-8859-1'), bytesOf(body.replace('hostile', 'hôstile').replace('worker', 'wörker'), 'latin1'), [400], /UTF-8/),
    ),
    // bodies: not JSON, not UTF-8, absurdly nested, prototype games
    notJson.map((text) => binary('body not JSON', headers, text, [400], /not valid JSON/)),
    fc
      .tuple(fc.constantFrom(...INVALID_UTF8), fc.double({ min: 0, max: 1, noNaN: true }))
      .map(([bytes, at]) => binary('body not UTF-8', headers, spliceBytes(body, bytes, at), [400], /not valid UTF-8/)),
    fc.constant(binary('data nested 10,000 deep', headers, deeplyNested(10_000), [400], /data/)),
    fc.constant(binary('object nested 10,000 deep', headers, deeplyNestedObject(10_000), [400], /data\./)),
    fc.constant(binary('data only under __proto__', headers, `{"__proto__":${body}}`, [400], /data\./)),
    fc.constant(binary('data in a constructor.prototype', headers, `{"constructor":{"prototype":${body}}}`, [400], /data\./)),
    fc.constantFrom('null', '[]', '"text"', '42', 'true').map((json) => binary(`data ${json}`, headers, json, [400], /data/)),
    // encodings the body parser cannot or will not undo
    fc.constant(binary('gzip that is not gzip', [...headers, ['content-encoding', 'gzip']], body, [400], /header check|gzip|incorrect/)),
    fc.constant(binary('unknown content-encoding', [...headers, ['content-encoding', 'compress']], body, [415], /content encoding/)),
    // structured mode
    fc
      .constantFrom<[string, unknown]>(['id', 7], ['id', ''], ['source', {}], ['type', null], ['specversion', 1], ['specversion', '0.3'], ['type', ['x']])
      .map(([name, value]) => structured(`structured ${name}=${JSON.stringify(value)}`, { ...structuredEvent(stage, taskId), [name]: value }, new RegExp(name))),
    fc
      .constantFrom('id', 'source', 'type', 'specversion')
      .map((name) => {
        const event: Record<string, unknown> = structuredEvent(stage, taskId);
        delete event[name];
        return structured(`structured without ${name}`, event, new RegExp(`"${name}" is missing`));
      }),
    fc
      .constantFrom('text/plain', 'application/xml', 'text/json')
      .map((type) => structured(`datacontenttype ${type}`, { ...structuredEvent(stage, taskId), datacontenttype: type }, /datacontenttype/)),
    fc.constantFrom('[]', '"event"', '1', 'null').map((json) => structured(`structured ${json}`, json, /JSON object/)),
    fc.constant(structured('structured, not JSON', '{"specversion":"1.0",', /not valid JSON/)),
    // batches: refused by stages that do not take them; malformed ones refused by those that do,
    // as a whole (400) or per event (207 naming the event's problem)
    BATCHING.has(stage.name)
      ? fc.oneof(
          fc.constant(structured('an empty batch', '[]', /empty/, BATCH)),
          fc.constant(structured('a batch that is one object', structuredEvent(stage, taskId), /JSON array/, BATCH)),
          fc.constant(structured('a batch that is not JSON', '[{"specversion":', /not valid JSON/, BATCH)),
          fc
            .constantFrom<[string, unknown]>(['id', 7], ['source', {}], ['type', null], ['specversion', '0.3'])
            .map(([name, value]) => ({
              ...structured(`batched event with ${name}=${JSON.stringify(value)}`, [{ ...structuredEvent(stage, taskId), [name]: value }], new RegExp(`event 0: 400 .*${name}`), BATCH),
              status: [207],
            })),
          fc.constant({ ...structured('batched event of another type', [{ ...structuredEvent(stage, taskId), type: otherTypes[0] }], /event 0: 400 unsupported event type/, BATCH), status: [207] }),
        )
      : fc.constant(structured('a batch', `[${JSON.stringify(structuredEvent(stage, taskId))}]`, /batch/, BATCH)),
    fc.constant(structured('structured under __proto__', `{"__proto__":${JSON.stringify(structuredEvent(stage, taskId))}}`, /missing/)),
    fc.constant(
      structured('structured in UTF-16', bytesOf(JSON.stringify(structuredEvent(stage, taskId)), 'utf16le'), /not valid JSON|UTF-8/, `${STRUCTURED}; charset=utf-16le`),
    ),
    fc
      .tuple(fc.constantFrom('id', 'source', 'type', 'subject'), fc.constantFrom(...CONTROL_CHARS))
      .map(([name, char]) => {
        const event = structuredEvent(stage, taskId);
        return structured(`${JSON.stringify(char)} in attribute ${name}`, { ...event, [name]: `${event[name] as string}${char}x` }, new RegExp(`"${name}"`));
      }),
    // control characters and bytes outside ASCII in ce-* headers that HTTP itself lets through
    fc
      .tuple(fc.constantFrom('ce-id', 'ce-source', 'ce-subject', 'ce-type'), fc.constantFrom('\t', 'é', 'ÿ', '\u0085'))
      .map(([name, char]) =>
        binary(
          `${JSON.stringify(char)} in ${name}`,
          replaceHeader(headers, name, Buffer.from(`${headers.find(([n]) => n === name)![1] as string}${char}x`, 'latin1')),
          body,
          [400],
          new RegExp(`"${name.slice(3)}"|${name}`),
        ),
      ),
  );
}

function wrongData(stage: Stage): fc.Arbitrary<{ field: string; value: unknown; mode: 'binary' | 'structured' | 'batch' }> {
  const fields = Object.entries(stage.wrong).flatMap(([field, values]) => [...values, undefined].map((value) => ({ field, value })));
  const modes = BATCHING.has(stage.name) ? (['binary', 'structured', 'batch'] as const) : (['binary', 'structured'] as const);
  return fc.tuple(fc.constantFrom(...fields), fc.constantFrom(...modes)).map(([f, mode]) => ({ ...f, mode }));
}

// ---- checks -----------------------------------------------------------------------------------

function describeAnswer(response: RawResponse): string {
  return `${response.status} ${response.body.slice(0, 300)}`;
}

function messageOf(response: RawResponse): string {
  try {
    const parsed = JSON.parse(response.body) as { message?: unknown };
    return typeof parsed.message === 'string' ? parsed.message : '';
  } catch {
    return '';
  }
}

async function expectRefused(port: number, request: RawRequest, status: readonly number[], message: RegExp): Promise<RawResponse> {
  const response = await rawHttp(port, request);
  const written = await writes.drain();
  expect(status, describeAnswer(response)).toContain(response.status);
  expect(messageOf(response), describeAnswer(response)).toMatch(message);
  expect(written, `writes after ${describeAnswer(response)}`).toEqual([]);
  return response;
}

/** Stage names (not objects), so a counterexample reads well. */
const stageArb = fc.constantFrom(...STAGES.keys());

describe('every function under fuzzing', () => {
  it('answers each malformed request with a 4xx naming the problem, and writes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        stageArb.chain((name) => hostileRequests(stageOf(name)).map((hostile) => ({ name, hostile }))),
        async ({ name, hostile }) => {
          await expectRefused(portOf(stageOf(name)), hostile.request, hostile.status, hostile.message);
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('answers data of the wrong shape with 400 naming the field, in both content modes, and writes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        stageArb.chain((name) => wrongData(stageOf(name)).map((wrong) => ({ name, wrong }))),
        async ({ name, wrong }) => {
          const stage = stageOf(name);
          const taskId = nextTaskId();
          const value = typeof wrong.value === 'function' ? (wrong.value as (id: string) => unknown)(taskId) : wrong.value;
          const data = { ...stage.data(taskId), [wrong.field]: value };
          if (wrong.value === undefined) delete data[wrong.field];
          const event = { ...structuredEvent(stage, taskId), data };
          const request: RawRequest =
            wrong.mode === 'binary'
              ? { headers: binaryHeaders(stage, taskId), body: JSON.stringify(data) }
              : wrong.mode === 'structured'
                ? { headers: [['content-type', STRUCTURED]], body: JSON.stringify(event) }
                : { headers: [['content-type', BATCH]], body: JSON.stringify([event]) };
          await expectRefused(portOf(stage), request, wrong.mode === 'batch' ? [207] : [400], new RegExp(`data\\.${wrong.field}\\b`));
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('answers CR, LF and other control bytes in headers with 400 naming the problem, and writes nothing', async () => {
    const controls = CONTROL_CHARS.filter((c) => c !== '\t' && c !== '\u0085' && c !== '\u009b').concat(['\r', '\n', '\u0000', '\u000b']);
    await fc.assert(
      fc.asyncProperty(
        stageArb,
        fc.constantFrom('ce-id', 'ce-source', 'ce-type', 'ce-subject', 'content-type', 'ce-traceparent'),
        fc.constantFrom(...controls),
        fc.constantFrom('value', 'name'),
        async (stageName, name, control, where) => {
          const stage = stageOf(stageName);
          const taskId = nextTaskId();
          const headers = binaryHeaders(stage, taskId);
          const patched: Headers =
            where === 'value'
              ? replaceHeader(headers, name, `before${control}after`)
              : [...headers, [`${name}${control}x`, 'v']];
          await expectRefused(portOf(stage), { headers: patched, body: JSON.stringify(stage.data(taskId)) }, [400], /header|HTTP/i);
        },
      ),
      { numRuns: Math.ceil(NUM_RUNS / 2) },
    );
  });
});

describe('every function, the limits and the aftermath', () => {
  it.each(STAGE_LIST.map((stage) => [stage.name, stage] as const))('%s refuses a body over its limit with 413', async (_name, stage) => {
    const taskId = nextTaskId();
    await expectRefused(portOf(stage), { headers: binaryHeaders(stage, taskId), body: Buffer.alloc(BODY_LIMIT_BYTES + 1, 0x20) }, [413], /too large/);
  });

  it('answers a request line or headers too large for the parser with a 4xx that says so', async () => {
    const stage = STAGE_LIST[0]!;
    const many: Headers = Array.from({ length: 3_000 }, (_v, i) => [`x-h${i}`, 'v']);
    await expectRefused(portOf(stage), { headers: [...binaryHeaders(stage, nextTaskId()), ...many], body: '{}' }, [431], /header/i);
    await expectRefused(portOf(stage), { headers: [['ce-long', 'v'.repeat(20_000)]], body: '{}' }, [431], /header/i);
    const garbage = await sendRaw(portOf(stage), Buffer.from('\u0000\u0001 NOT HTTP\r\n\r\n', 'latin1'));
    expect(garbage.status, garbage.text).toBe(400);
    expect(messageOf(garbage), garbage.text).toMatch(/HTTP/);
    expect(await writes.drain()).toEqual([]);
  });

  it('still answers every health endpoint, and still takes a valid event at every stage', async () => {
    for (const stage of STAGE_LIST) {
      const health = await rawHttp(portOf(stage), { method: 'GET', path: '/health/liveness' });
      expect(health.status, stage.name).toBe(200);
    }
    // The check that nothing was written can fail: each valid event does write.
    for (const stage of STAGE_LIST) {
      const taskId = nextTaskId();
      const response = await rawHttp(portOf(stage), { headers: binaryHeaders(stage, taskId), body: JSON.stringify(stage.data(taskId)) });
      expect(response.status, `${stage.name}: ${describeAnswer(response)}`).toBe(204);
      expect(await writes.drain(), stage.name).not.toEqual([]);
    }
  });
});

describe('the enricher and GET /results/:id under fuzzing', () => {
  const enrich = (body: string | Uint8Array, contentType = 'application/json') =>
    rawHttp(enricher.port, { path: '/enrich', headers: [['content-type', contentType]], body });

  it('answers every malformed /enrich body with 400 naming the problem', async () => {
    const valid = { taskId: 't-1', type: 'echo', metadata: { region: 'eu-west' } };
    const bodies = fc.oneof(
      notJson.map((text) => [text, /not valid JSON/] as const),
      fc.constantFrom('', ' ').map((text) => [text, /empty|not valid JSON/] as const),
      fc.constantFrom(...INVALID_UTF8).map((bytes) => [spliceBytes(JSON.stringify(valid), bytes, 0.5), /not valid JSON/] as const),
      fc.constantFrom('null', '[]', '"x"', '1', deeplyNested(10_000)).map((text) => [text, /JSON object/] as const),
      fc
        .constantFrom<[string, unknown]>(['taskId', undefined], ['taskId', ''], ['taskId', 1], ['taskId', 'x'.repeat(257)], ['type', null], ['type', {}])
        .map(([field, value]) => [JSON.stringify({ ...valid, [field]: value }), new RegExp(field)] as const),
      fc
        .constantFrom<unknown>([], 'm', 1, { region: 5 }, { a: null }, { b: { c: 'd' } })
        .map((metadata) => [JSON.stringify({ ...valid, metadata }), /metadata/] as const),
      fc.constant([`{"__proto__":${JSON.stringify(valid)}}`, /taskId/] as const),
    );
    await fc.assert(
      fc.asyncProperty(bodies, fc.constantFrom('application/json', 'text/plain', 'application/xml', ''), async ([body, message], type) => {
        const response = await enrich(body, type);
        expect(response.status, describeAnswer(response)).toBe(400);
        expect(messageOf(response), describeAnswer(response)).toMatch(message);
      }),
      { numRuns: Math.ceil(NUM_RUNS / 2) },
    );
    const injected = await rawHttp(enricher.port, { path: '/enrich', headers: [['content-type', 'application/json\rx: y']], body: '{}' });
    expect([injected.status, messageOf(injected)]).toEqual([400, expect.stringMatching(/malformed HTTP request/)]);
    const tooLarge = await enrich(JSON.stringify({ ...valid, type: 'x'.repeat(ENRICHER_BODY_LIMIT_BYTES) }));
    expect(tooLarge.status).toBe(413);
    expect((await enrich(JSON.stringify(valid))).status).toBe(200);
    expect((await rawHttp(enricher.port, { method: 'GET', path: '/health/liveness' })).status).toBe(200);
  });

  it('answers GET /results/:id with 400 or 404, never 5xx, for any id', async () => {
    const port = running.get('result-store')!.port;
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary', minLength: 1, maxLength: 200 }), async (id) => {
        const path = `/results/${[...Buffer.from(id, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`;
        const response = await rawHttp(port, { method: 'GET', path });
        expect([400, 404], describeAnswer(response)).toContain(response.status);
        expect(messageOf(response).length, describeAnswer(response)).toBeGreaterThan(0);
      }),
      { numRuns: Math.ceil(NUM_RUNS / 3) },
    );
    expect(await writes.drain()).toEqual([]);
  });
});
