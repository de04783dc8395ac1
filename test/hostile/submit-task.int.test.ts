// Hostile input against SubmitTask (issue 3, docs/design.md §5.8): property-based fuzzing of a real
// gateway (in-process, real nats-server and redis-server on free ports). Requests are encoded by
// hand (protobuf-wire.ts), so string fields can carry bytes that are not UTF-8 and numbers can be
// any 64-bit varint. Every malformed request must get INVALID_ARGUMENT whose message starts with
// the field it is about, and write nothing (no Redis write command — keyspace notifications —
// and no publish); every well-formed one, however odd, must be accepted and stored as sent.
import * as grpc from '@grpc/grpc-js';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import fc from 'fast-check';
import { RedisClient as Redis } from '../../shared/redis-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGatewayConfig } from '../../gateway/config';
import { startGateway, type RunningGateway } from '../../gateway/server';
import { checkHealth, createTaskManagerClient, rejection, type TaskManagerClient } from '../../gateway/test-support/grpc-client';
import { MAX_METADATA_ENTRIES, MAX_METADATA_VALUE_CHARS, MAX_TIMEOUT_MS } from '../../gateway/validation';
import { createEnvReader, DEFAULT_REDIS_KEY_PREFIX, readFlowSettings } from '../../shared/config';
import { KEYS, MAX_DELAY_MS, STREAM_TASKS } from '../../shared/contract';
import { createLogger } from '../../shared/logger';
import { setupFlow } from '../../shared/flow-setup';
import { startNatsServer, startRedisServer, type TestServer } from '../helpers/servers';
import {
  awkwardJson,
  CONTROL_CHARS,
  deeplyNested,
  HOSTILE_CHARS,
  JS_SPECIAL_KEYS,
  notJson,
  withHostileChar,
  withInvalidUtf8,
} from './arbitraries';
import { createRawSubmitter, type CallOutcome, type RawSubmitter } from './grpc-raw';
import { encodeSubmit, encodeVarint, lengthDelimited, paddedVarint, tag, type RawSubmit } from './protobuf-wire';
import { watchWrites, type WriteWatch } from './write-watch';

const logger = createLogger('hostile-submit', 'silent');
/** The shipped defaults: 256 KiB payloads, 1 MiB gRPC messages. */
const MAX_PAYLOAD_BYTES = 256 * 1024;
const NUM_RUNS = Number(process.env.TM_FUZZ_RUNS ?? 300);

let natsServer: TestServer;
let redisServer: TestServer;
let nc: NatsConnection;
let redis: Redis;
let gateway: RunningGateway;
let address: string;
let raw: RawSubmitter;
let client: TaskManagerClient;
let writes: WriteWatch;
let accepted = 0;

beforeAll(async () => {
  [natsServer, redisServer] = await Promise.all([startNatsServer(), startRedisServer()]);
  nc = await connect({ servers: natsServer.url });
  await setupFlow(nc, readFlowSettings(createEnvReader({})), logger);
  redis = new Redis(redisServer.url, { keyPrefix: DEFAULT_REDIS_KEY_PREFIX });
  // No API keys configured: this file is about input, not authentication.
  const config = loadGatewayConfig(
    { PORT: '0', NATS_URL: natsServer.url, REDIS_URL: redisServer.url, TM_SHUTDOWN_GRACE_MS: '1000' },
    { cwd: process.cwd() },
  );
  expect(config.maxPayloadBytes).toBe(MAX_PAYLOAD_BYTES);
  gateway = await startGateway(config, logger);
  address = `127.0.0.1:${gateway.port}`;
  raw = createRawSubmitter(address);
  client = createTaskManagerClient(address);
  writes = await watchWrites(redisServer.url, nc, ['>']);
});

afterAll(async () => {
  raw?.close();
  client?.close();
  await writes?.stop();
  await gateway?.stop();
  redis?.disconnect();
  await nc?.close();
  await Promise.all([natsServer?.stop(), redisServer?.stop()]);
});

// ---- what a valid request looks like ------------------------------------------------------

type Model = {
  type: string;
  payload: string;
  priority: bigint;
  idempotencyKey: string | undefined;
  metadata: [string, string][];
  delayMs: bigint | undefined;
  maxAttempts: bigint;
};

const PRIORITY_NAMES = ['medium', 'low', 'medium', 'high'] as const;
/** C0, DEL and C1: what a metadata value may not contain. */
// eslint-disable-next-line no-control-regex
const HAS_CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

const validType = fc.oneof(
  fc.constantFrom('echo', 'sleep', 'hash', 'fail', 'flaky', 'unknown-type_2', 'a'.repeat(128)),
  fc.stringMatching(/^[A-Za-z0-9_-]{1,128}$/),
);
const validKeyChars = fc.stringMatching(/^[\x21-\x7e]{1,200}$/);
const validIdempotencyKey = fc.oneof(validKeyChars, fc.constantFrom('.', '*', '>', 'tasks.>', 'a.*.b', '"quoted"', '\\', '%0d%0a', '{}'));
const metadataKey = fc
  .oneof(fc.stringMatching(/^[A-Za-z0-9_.-]{1,128}$/), fc.constantFrom(...JS_SPECIAL_KEYS, '.', '..', 'a.b', '-', '_'))
  .filter((key) => key !== 'timeout_ms');
const metadataValue = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 200 }).filter((v) => !HAS_CONTROL.test(v)),
  fc.constantFrom('*', '>', 'tasks.>', '$1', '%0d%0a', '\u2028', '\ufffd', '😀', '{"__proto__":1}', 'x'.repeat(MAX_METADATA_VALUE_CHARS)),
);
const validMetadata = fc.uniqueArray(fc.tuple(metadataKey, metadataValue), { maxLength: 8, selector: ([key]) => key });

const validModel: fc.Arbitrary<Model> = fc.record({
  type: validType,
  payload: awkwardJson,
  priority: fc.bigInt(0n, 3n),
  idempotencyKey: fc.option(validIdempotencyKey, { nil: undefined }),
  metadata: validMetadata,
  delayMs: fc.option(fc.oneof(fc.constantFrom(0n, BigInt(MAX_DELAY_MS)), fc.bigInt(0n, BigInt(MAX_DELAY_MS))), { nil: undefined }),
  maxAttempts: fc.bigInt(0n, 5n),
});

function toRaw(model: Model): RawSubmit {
  return {
    type: model.type,
    payload: model.payload,
    priority: model.priority,
    idempotencyKey: model.idempotencyKey,
    metadata: model.metadata,
    delayMs: model.delayMs,
    maxAttempts: model.maxAttempts,
  };
}

// ---- one defect per request, with the field it must be blamed on ---------------------------

type Defect = { field: string; apply: (request: RawSubmit) => RawSubmit };

const defect = (field: string, change: (request: RawSubmit) => RawSubmit): Defect => ({ field, apply: change });
const set = (field: string, patch: Partial<RawSubmit>): Defect => defect(field, (request) => ({ ...request, ...patch }));
const addMetadata = (field: string, key: string | Uint8Array, value: string | Uint8Array): Defect =>
  defect(field, (request) => ({ ...request, metadata: [...(request.metadata ?? []), [key, value]] }));

const addRaw = (field: string, bytes: Uint8Array): Defect => defect(field, (request) => ({ ...request, raw: [...(request.raw ?? []), bytes] }));

const hugePayload = fc
  .constantFrom(MAX_PAYLOAD_BYTES + 1, MAX_PAYLOAD_BYTES + 4096, 900 * 1024)
  .map((bytes) => `"${'x'.repeat(bytes - 2)}"`);

const defects: fc.Arbitrary<Defect> = fc.oneof(
  // type: anything that could become a subject token, a key or a header, or is not there at all
  fc.constantFrom(set('type', { type: undefined }), set('type', { type: '' }), set('type', { type: 'a'.repeat(129) })),
  withHostileChar(validType).map((type) => set('type', { type })),
  withInvalidUtf8(validType).map((type) => set('type', { type })),
  // payload
  fc.constantFrom(set('payload', { payload: undefined }), set('payload', { payload: '' }), set('payload', { payload: ' \r\n\t ' })),
  notJson.map((payload) => set('payload', { payload })),
  hugePayload.map((payload) => set('payload', { payload })),
  withInvalidUtf8(awkwardJson.filter((json) => json.length < 5_000)).map((payload) => set('payload', { payload })),
  // priority: a number the enum does not name
  fc.oneof(fc.bigInt(4n, 2n ** 31n - 1n), fc.bigInt(-(2n ** 31n), -1n)).map((priority) => set('priority', { priority })),
  // idempotency_key: part of a Redis key, so no whitespace, controls or non-ASCII
  fc.constantFrom(set('idempotency_key', { idempotencyKey: '' }), set('idempotency_key', { idempotencyKey: 'k'.repeat(257) })),
  withHostileChar(validKeyChars, [' ', '\t', 'é', '😀', '\ufffd', '\u2028', ...CONTROL_CHARS]).map((key) =>
    set('idempotency_key', { idempotencyKey: key }),
  ),
  withInvalidUtf8(validKeyChars).map((key) => set('idempotency_key', { idempotencyKey: key })),
  // metadata keys
  fc.constantFrom(
    addMetadata('metadata', '', 'v'),
    addMetadata('metadata', 'k'.repeat(129), 'v'),
    set('metadata', { metadata: Array.from({ length: MAX_METADATA_ENTRIES + 1 }, (_v, i) => [`k${i}`, 'v'] as const) }),
  ),
  withHostileChar(fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/), HOSTILE_CHARS.filter((c) => c !== '.')).map((key) =>
    addMetadata('metadata', key, 'v'),
  ),
  withInvalidUtf8(fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/)).map((key) => addMetadata('metadata', key, 'v')),
  // metadata values
  withHostileChar(fc.string({ maxLength: 40 }).filter((v) => !HAS_CONTROL.test(v)), CONTROL_CHARS).map((value) =>
    addMetadata('metadata.bad_value', 'bad_value', value),
  ),
  fc.constant(addMetadata('metadata.bad_value', 'bad_value', 'v'.repeat(MAX_METADATA_VALUE_CHARS + 1))),
  withInvalidUtf8(fc.string({ maxLength: 40 })).map((value) => addMetadata('metadata.bad_value', 'bad_value', value)),
  fc
    .constantFrom('0', '-1', '1.5', '1e3', ' 1', '1 ', '', 'abc', '0x10', String(MAX_TIMEOUT_MS + 1), '9'.repeat(20), '١٢٣')
    .map((timeout) => addMetadata('metadata.timeout_ms', 'timeout_ms', timeout)),
  // delay_ms and max_attempts: negative, beyond their range, beyond 2^53 and 2^63
  fc
    .oneof(fc.bigInt(BigInt(MAX_DELAY_MS) + 1n, 2n ** 64n - 1n), fc.bigInt(-(2n ** 63n), -1n), fc.constantFrom(2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 63n))
    .map((delayMs) => set('delay_ms', { delayMs })),
  fc.oneof(fc.bigInt(6n, 2n ** 31n - 1n), fc.bigInt(-(2n ** 31n), -1n)).map((maxAttempts) => set('max_attempts', { maxAttempts })),
  // the wire itself: int32 varints of 6..9 bytes (protobufjs skips past them), wrong wire types
  fc
    .tuple(fc.constantFrom([3, 'priority'] as const, [7, 'max_attempts'] as const), fc.bigInt(0n, 3n), fc.integer({ min: 6, max: 9 }))
    .map(([field, value, length]) => addRaw(field[1], Buffer.concat([tag(field[0], 0), paddedVarint(value, length)]))),
  fc.constantFrom(
    addRaw('type', Buffer.concat([tag(1, 0), encodeVarint(4n)])),
    addRaw('payload', Buffer.concat([tag(2, 5), Buffer.from('{}{}')])),
    addRaw('priority', lengthDelimited(3, Buffer.from([0x38, 0x03]))),
    addRaw('idempotency_key', Buffer.concat([tag(4, 1), Buffer.alloc(8, 0x41)])),
    addRaw('metadata', Buffer.concat([tag(5, 0), encodeVarint(1n)])),
    addRaw('metadata', lengthDelimited(5, Buffer.concat([tag(1, 0), encodeVarint(7n)]))),
    addRaw('delay_ms', lengthDelimited(6, Buffer.from('1000'))),
    addRaw('delay_ms', Buffer.concat([tag(6, 1), Buffer.alloc(8, 0)])),
    addRaw('max_attempts', Buffer.concat([tag(7, 5), Buffer.alloc(4, 0)])),
  ),
);

/** Every INVALID_ARGUMENT message starts with one of the request's fields. */
const FIELD_PREFIX = /^(type|payload|priority|idempotency_key|metadata(\.[^:]*)?|delay_ms|max_attempts): \S/;

// ---- checks ---------------------------------------------------------------------------------

function describeOutcome(outcome: CallOutcome): string {
  return outcome.ok ? `OK ${outcome.response.task_id}` : `${grpc.status[outcome.code]}: ${outcome.details.slice(0, 200)}`;
}

async function expectRefused(request: RawSubmit, field: string): Promise<void> {
  const outcome = await raw.submit(encodeSubmit(request));
  const written = await writes.drain();
  expect(outcome.ok ? 'accepted' : grpc.status[outcome.code], describeOutcome(outcome)).toBe('INVALID_ARGUMENT');
  expect(outcome.ok ? '' : outcome.details).toMatch(new RegExp(`^${field.replace(/[.]/g, '\\.')}: \\S`));
  expect(written, 'writes for a refused request').toEqual([]);
}

/** What the gateway should have stored for a model: the text decoded as it arrives. */
function expectedMetadata(model: Model): Record<string, string> {
  return Object.fromEntries(model.metadata);
}

async function expectAccepted(model: Model): Promise<string> {
  const outcome = await raw.submit(encodeSubmit(toRaw(model)));
  const written = await writes.drain();
  if (!outcome.ok) throw new Error(`a valid request was refused: ${describeOutcome(outcome)}`);
  expect(outcome.response).toMatchObject({ state: 'QUEUED', duplicate: false });
  accepted += 1;
  const id = outcome.response.task_id;
  expect(written).toContain(`nats tasks.ingest`);
  const stored = await redis.hgetall(KEYS.task(id));
  expect(stored.type).toBe(model.type);
  expect(stored.payload).toBe(model.payload);
  expect(stored.priority).toBe(PRIORITY_NAMES[Number(model.priority)]);
  expect(JSON.parse(stored.metadata!)).toStrictEqual(expectedMetadata(model));
  expect(Number(stored.max_attempts)).toBe(model.maxAttempts === 0n ? 5 : Number(model.maxAttempts));
  const delay = Number(model.delayMs ?? 0n);
  expect(Number(stored.not_before_ms)).toBe(delay > 0 ? Number(stored.created_at_ms) + delay : 0);
  return id;
}

let keyCounter = 0;
/** Idempotency keys stay unique across runs, so a valid request is never a duplicate. */
function uniqueKey(model: Model): Model {
  keyCounter += 1;
  return model.idempotencyKey === undefined ? model : { ...model, idempotencyKey: `${model.idempotencyKey}~${keyCounter}` };
}

async function streamMessages(): Promise<number> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(STREAM_TASKS)).state.messages;
}

// ---- properties -------------------------------------------------------------------------------

describe('SubmitTask under fuzzing', () => {
  it('refuses every request with one malformed field with INVALID_ARGUMENT naming that field, and writes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(validModel, defects, async (model, bad) => {
        await expectRefused(bad.apply(toRaw(model)), bad.field);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('accepts every well-formed request, however odd its content, and stores it exactly as sent', async () => {
    await fc.assert(
      fc.asyncProperty(validModel, async (model) => {
        await expectAccepted(uniqueKey(model));
      }),
      { numRuns: Math.ceil(NUM_RUNS / 2) },
    );
  });

  it('answers random field bytes with OK or INVALID_ARGUMENT naming a field; a refusal writes nothing', async () => {
    const text = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.string({ unit: 'binary', maxLength: 64 }),
      validType,
      awkwardJson.filter((json) => json.length < 2_000),
    );
    const int64 = fc.bigInt(-(2n ** 63n), 2n ** 64n - 1n);
    const request: fc.Arbitrary<RawSubmit> = fc.record(
      {
        type: text,
        payload: text,
        priority: fc.oneof(fc.bigInt(0n, 4n), int64),
        idempotencyKey: text,
        metadata: fc.array(fc.tuple(text, text), { maxLength: 4 }),
        delayMs: fc.oneof(fc.bigInt(0n, 10_000n), int64),
        maxAttempts: fc.oneof(fc.bigInt(0n, 6n), int64),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(request, async (req) => {
        const before = accepted;
        const outcome = await raw.submit(encodeSubmit(req));
        const written = await writes.drain();
        if (outcome.ok && outcome.response.duplicate) {
          // A random key that came up twice: the first task is returned, nothing published again.
          expect(written.filter((line) => line.startsWith('nats '))).toEqual([]);
          return;
        }
        if (outcome.ok) {
          accepted = before + 1;
          expect(written).toContain('nats tasks.ingest');
          return;
        }
        expect(grpc.status[outcome.code], outcome.details).toBe('INVALID_ARGUMENT');
        expect(outcome.details).toMatch(FIELD_PREFIX);
        expect(written, 'writes for a refused request').toEqual([]);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('puts exactly the accepted tasks on the TASKS stream, and keeps serving', async () => {
    expect(await streamMessages()).toBe(accepted);
    expect(await checkHealth(address)).toBe('SERVING');
    const response = await client.submitTask({ type: 'echo', payload: '{"still":"serving"}' });
    expect(response.state).toBe('QUEUED');
    accepted += 1;
    expect(await writes.drain()).toContain('nats tasks.ingest');
    expect(await streamMessages()).toBe(accepted);
  });
});

describe('the task_id of the other RPCs under fuzzing', () => {
  it('answers any task_id with INVALID_ARGUMENT or NOT_FOUND naming it, and writes nothing', async () => {
    const taskId = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      withHostileChar(fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/)),
      fc.constantFrom('', '*', '>', 'tasks.>', '..', '__proto__', 'x'.repeat(129)),
    );
    const rpc = fc.constantFrom('getTask', 'getResult', 'cancelTask') satisfies fc.Arbitrary<keyof TaskManagerClient>;
    await fc.assert(
      fc.asyncProperty(rpc, taskId, async (method, id) => {
        const error = await rejection(client[method](id));
        const written = await writes.drain();
        expect(['INVALID_ARGUMENT', 'NOT_FOUND'], `${grpc.status[error.code]}: ${error.details}`).toContain(grpc.status[error.code]);
        expect(error.details).toMatch(error.code === grpc.status.INVALID_ARGUMENT ? /^task_id: / : /\S/);
        expect(written, `${grpc.status[error.code]}: ${error.details}`).toEqual([]);
      }),
      { numRuns: Math.ceil(NUM_RUNS / 2) },
    );
  });
});

describe('SubmitTask with the awkward cases spelled out', () => {
  it('stores payloads nested 10,000 levels deep and __proto__/constructor keys as sent, polluting nothing', async () => {
    const payload = `{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"deep":${deeplyNested(10_000)}}`;
    const metadata: [string, string][] = [['__proto__', 'x'], ['constructor', 'y'], ['prototype', 'z']];
    const id = await expectAccepted({ type: 'echo', payload, priority: 0n, idempotencyKey: undefined, metadata, delayMs: undefined, maxAttempts: 0n });
    const task = await client.getTask(id);
    expect(task.payload).toBe(payload);
    expect(Object.entries(task.metadata)).toEqual(metadata);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted')).toBe(false);
  });

  it('names the field when a string field carries bytes that are not UTF-8 (they would be stored altered)', async () => {
    const bad = Buffer.from([0x22, 0xc0, 0xae, 0x22]); // "<overlong '.'>" — JSON once decoded to U+FFFD
    await expectRefused({ type: 'echo', payload: bad }, 'payload');
    await expectRefused({ type: 'echo', payload: '1', metadata: [['k', Buffer.from([0xff])]] }, 'metadata.k');
    await expectRefused({ type: 'echo', payload: '1', metadata: [[Buffer.from([0xc0, 0xbe]), 'v']] }, 'metadata');
    await expectRefused({ type: Buffer.from('ec\xc0\xaeho', 'latin1'), payload: '1' }, 'type');
    await expectRefused({ type: 'echo', payload: '1', idempotencyKey: Buffer.from([0x6b, 0xc0, 0x8d, 0xc0, 0x8a]) }, 'idempotency_key');
    const outcome = await raw.submit(encodeSubmit({ type: 'echo', payload: bad }));
    expect(outcome.ok ? '' : outcome.details).toBe('payload: is not valid UTF-8');
  });

  it('answers a payload whose JSON error quotes half an emoji (a lone surrogate) instead of hanging the call', async () => {
    // V8 says "Unexpected token '\ud83d'": grpc-js's encodeURI of such a message used to throw,
    // leaving the call unanswered and the rejection unhandled (fatal for the process).
    await expectRefused({ type: 'echo', payload: '😀x' }, 'payload');
    await expectRefused({ type: 'echo', payload: `[1,${'😀'.repeat(30)}]` }, 'payload');
  });

  it('treats numbers a JavaScript client may send for delay_ms and max_attempts as the proto says', async () => {
    // -0 is 0 on the wire: accepted as "no delay"; the rest are refused naming the field.
    const zero = await client.submitTask({ type: 'echo', payload: '-0', delay_ms: -0, max_attempts: -0 });
    expect(zero.state).toBe('QUEUED');
    accepted += 1;
    expect(await redis.hget(KEYS.task(zero.task_id), 'not_before_ms')).toBe('0');
    await writes.drain();
    for (const delay of [1e308, -1e308, 2 ** 63, -1, MAX_DELAY_MS + 1, 2 ** 53 + 2]) {
      const error = await rejection(client.submitTask({ type: 'echo', payload: '{}', delay_ms: delay }));
      expect([error.code, error.details]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringMatching(/^delay_ms: /)]);
    }
    for (const attempts of [6, -1, 2 ** 31 - 1, -(2 ** 31)]) {
      const error = await rejection(client.submitTask({ type: 'echo', payload: '{}', max_attempts: attempts }));
      expect([error.code, error.details]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringMatching(/^max_attempts: /)]);
    }
    expect(await writes.drain(), 'writes for refused requests').toEqual([]);
  });
});
