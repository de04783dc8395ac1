// Transport limits (issue 3, docs/design.md §4 "size limits agree end to end"): the gateway's gRPC
// receive limit is no larger than what nats-server accepts per message (its INFO max_payload),
// the payload limit is below the receive limit (so an oversized payload is named, not cut off),
// and what the transport cannot take — messages over the limit, a header claiming 2 GiB, broken
// framing, bytes that are not protobuf, a gzip bomb — is refused by grpc-js with
// RESOURCE_EXHAUSTED / INTERNAL / UNIMPLEMENTED before anything is written, while the gateway
// keeps serving. Requests are written with node:http2 directly (grpc-raw.ts).
import type { ClientHttp2Session } from 'node:http2';
import { connect as connectTcp } from 'node:net';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGatewayConfig, type GatewayConfig } from '../../gateway/config';
import { startGateway, type RunningGateway } from '../../gateway/server';
import { checkHealth } from '../../gateway/test-support/grpc-client';
import { MAX_METADATA_ENTRIES, MAX_METADATA_VALUE_CHARS } from '../../gateway/validation';
import { createEnvReader, readFlowSettings } from '../../shared/config';
import { STREAM_TASKS } from '../../shared/contract';
import { createLogger } from '../../shared/logger';
import { setupFlow } from '../../shared/flow-setup';
import { startNatsServer, startRedisServer, type TestServer } from '../helpers/servers';
import { createRawSubmitter, openSession, rawGrpcCall, type RawOutcome, type RawSubmitter } from './grpc-raw';
import { encodeSubmit, grpcFrame } from './protobuf-wire';
import { watchWrites, type WriteWatch } from './write-watch';

const logger = createLogger('hostile-transport', 'silent');
const NUM_RUNS = Number(process.env.TM_FUZZ_RUNS ?? 300);
/** Far longer than any answer takes; only reached when the gateway never answers (a failure). */
const NO_ANSWER_MS = 10_000;

let natsServer: TestServer;
let redisServer: TestServer;
let nc: NatsConnection;
let config: GatewayConfig;
let gateway: RunningGateway;
let address: string;
let session: ClientHttp2Session;
let raw: RawSubmitter;
let writes: WriteWatch;
let accepted = 0;

const baseEnv = () => ({ PORT: '0', NATS_URL: natsServer.url, REDIS_URL: redisServer.url, TM_SHUTDOWN_GRACE_MS: '1000' });

beforeAll(async () => {
  [natsServer, redisServer] = await Promise.all([startNatsServer(), startRedisServer()]);
  nc = await connect({ servers: natsServer.url });
  await setupFlow(nc, readFlowSettings(createEnvReader({})), logger);
  // The shipped defaults, no API keys.
  config = loadGatewayConfig(baseEnv(), { cwd: process.cwd() });
  gateway = await startGateway(config, logger);
  address = `127.0.0.1:${gateway.port}`;
  session = await openSession(address);
  raw = createRawSubmitter(address);
  writes = await watchWrites(redisServer.url, nc, ['>']);
});

afterAll(async () => {
  session?.close();
  raw?.close();
  await writes?.stop();
  await gateway?.stop();
  await nc?.close();
  await Promise.all([natsServer?.stop(), redisServer?.stop()]);
});

const STATUS_NAMES = grpc.status as unknown as Record<number, string>;
const nameOf = (outcome: RawOutcome) =>
  outcome.grpcStatus === undefined ? `no status (${outcome.streamError ?? `HTTP ${outcome.httpStatus}`})` : STATUS_NAMES[outcome.grpcStatus]!;

async function expectRefused(body: Uint8Array, expected: readonly string[], options: Parameters<typeof rawGrpcCall>[2] = {}): Promise<RawOutcome> {
  const outcome = await rawGrpcCall(session, body, { timeoutMs: NO_ANSWER_MS, ...options });
  const written = await writes.drain();
  expect(expected, `${nameOf(outcome)}: ${outcome.grpcMessage}`).toContain(nameOf(outcome));
  expect(written, 'writes for a refused request').toEqual([]);
  return outcome;
}

/** A SubmitTask message of exactly `size` bytes: a JSON string payload padded to fit. */
function submitOfSize(size: number): Buffer {
  const overhead = encodeSubmit({ type: 'echo', payload: '""' }).length;
  for (let padding = size - overhead; padding > 0; padding -= 1) {
    const message = encodeSubmit({ type: 'echo', payload: `"${'x'.repeat(padding)}"` });
    if (message.length === size) return message;
    if (message.length < size) break; // the length prefix of the payload shrank by a byte: no exact fit
  }
  throw new Error(`cannot build a message of exactly ${size} bytes`);
}

async function streamMessages(): Promise<number> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(STREAM_TASKS)).state.messages;
}

describe('the size limits agree end to end', () => {
  it('has a gRPC receive limit no larger than the max_payload nats-server reports, and a payload limit below it', () => {
    const maxPayload = nc.info?.max_payload;
    expect(maxPayload).toBeGreaterThan(0);
    expect(config.grpcMaxReceiveBytes).toBeLessThanOrEqual(maxPayload!);
    expect(config.maxEventBytes).toBeLessThanOrEqual(maxPayload!);
    expect(config.maxPayloadBytes).toBeLessThan(config.grpcMaxReceiveBytes);
    // ...and the configuration refuses settings that break either rule, naming the variable.
    expect(() => loadGatewayConfig({ ...baseEnv(), TM_GRPC_MAX_RECEIVE_BYTES: String(maxPayload! + 1) }, { cwd: process.cwd() })).toThrow(
      /TM_GRPC_MAX_RECEIVE_BYTES/,
    );
    expect(() => loadGatewayConfig({ ...baseEnv(), TM_MAX_PAYLOAD_BYTES: String(config.grpcMaxReceiveBytes) }, { cwd: process.cwd() })).toThrow(
      /TM_MAX_PAYLOAD_BYTES/,
    );
  });

  it('accepts and publishes the largest valid request: what passes validation fits in a NATS message', async () => {
    // Quotes and backslashes double inside the event's JSON: the worst case for its size.
    const payload = `"${'\\"'.repeat((config.maxPayloadBytes - 2) / 2)}"`;
    expect(Buffer.byteLength(payload)).toBe(config.maxPayloadBytes);
    const metadata = Array.from({ length: MAX_METADATA_ENTRIES }, (_v, i) => [`k${String(i).padStart(125, '0')}`, '\\'.repeat(MAX_METADATA_VALUE_CHARS)] as const);
    const outcome = await raw.submit(encodeSubmit({ type: 'x'.repeat(128), payload, metadata, idempotencyKey: '"'.repeat(256) }));
    expect(outcome.ok ? 'OK' : outcome.details).toBe('OK');
    accepted += 1;
    expect(await writes.drain()).toContain('nats tasks.ingest');
  });

  it('refuses a message one byte over the receive limit with RESOURCE_EXHAUSTED; one at the limit reaches validation', async () => {
    const over = await raw.submit(submitOfSize(config.grpcMaxReceiveBytes + 1));
    expect(over.ok ? 'OK' : STATUS_NAMES[over.code]).toBe('RESOURCE_EXHAUSTED');
    expect(await writes.drain()).toEqual([]);
    const at = await raw.submit(submitOfSize(config.grpcMaxReceiveBytes));
    expect(at.ok ? 'OK' : [STATUS_NAMES[at.code], at.details]).toEqual(['INVALID_ARGUMENT', expect.stringMatching(/^payload: is \d+ bytes, over the limit/)]);
    expect(await writes.drain()).toEqual([]);
  });
});

describe('malformed gRPC frames', () => {
  it('refuses a message header that claims 2 GiB (or 4 GiB) at once, without waiting for the bytes', async () => {
    for (const declaredLength of [2 ** 31, 2 ** 32 - 1, config.grpcMaxReceiveBytes + 1]) {
      const outcome = await expectRefused(grpcFrame(Buffer.from('abc'), { declaredLength }), ['RESOURCE_EXHAUSTED'], { end: false });
      expect(outcome.grpcMessage).toMatch(/larger than max/);
    }
  });

  it('refuses broken framing: a length past the end, a second message, no message, a length that cuts the message short', async () => {
    const valid = encodeSubmit({ type: 'echo', payload: '{}' });
    await expectRefused(grpcFrame(Buffer.from('abc'), { declaredLength: 100 }), ['UNIMPLEMENTED']);
    await expectRefused(Buffer.concat([grpcFrame(valid), grpcFrame(valid)]), ['UNIMPLEMENTED']);
    await expectRefused(Buffer.alloc(0), ['UNIMPLEMENTED']);
    await expectRefused(Buffer.from([0, 0, 0]), ['UNIMPLEMENTED']);
    // The rest of the message is read as the next frame's header: a length of ~1.7 GB.
    await expectRefused(Buffer.concat([grpcFrame(valid, { declaredLength: 3 }), Buffer.from('zzzzzzzzzzzz')]), ['RESOURCE_EXHAUSTED', 'INTERNAL']);
  });

  it('refuses a gzip message that inflates past the limit, corrupt gzip and unknown encodings', async () => {
    const bomb = gzipSync(Buffer.alloc(4 * config.grpcMaxReceiveBytes));
    expect(bomb.length).toBeLessThan(config.grpcMaxReceiveBytes / 100);
    await expectRefused(grpcFrame(bomb, { compressed: true }), ['RESOURCE_EXHAUSTED'], { headers: { 'grpc-encoding': 'gzip' } });
    await expectRefused(grpcFrame(Buffer.from('not gzip'), { compressed: true }), ['INTERNAL'], { headers: { 'grpc-encoding': 'gzip' } });
    await expectRefused(grpcFrame(Buffer.from('x'), { compressed: true }), ['UNIMPLEMENTED'], { headers: { 'grpc-encoding': 'br' } });
  });

  it('refuses correctly framed bytes that are not a valid SubmitTaskRequest, writing nothing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 512 }), async (bytes) => {
        await expectRefused(grpcFrame(bytes), ['INVALID_ARGUMENT', 'INTERNAL']);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('answers any bytes at all as the request body without accepting anything', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), async (bytes) => {
        await expectRefused(bytes, ['INVALID_ARGUMENT', 'INTERNAL', 'UNIMPLEMENTED', 'RESOURCE_EXHAUSTED']);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('keeps serving after all of it, and after bytes that are not HTTP/2 at all', async () => {
    await new Promise<void>((resolve) => {
      const socket = connectTcp(gateway.port, '127.0.0.1', () => socket.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n\u0000\u0001garbage'));
      socket.on('data', () => undefined);
      socket.on('error', () => undefined);
      socket.on('close', () => resolve());
    });
    expect(await checkHealth(address)).toBe('SERVING');
    const outcome = await rawGrpcCall(session, grpcFrame(encodeSubmit({ type: 'echo', payload: '{"after":"all"}' })), { timeoutMs: NO_ANSWER_MS });
    expect(nameOf(outcome)).toBe('OK');
    accepted += 1;
    expect(await streamMessages()).toBe(accepted);
  });
});
