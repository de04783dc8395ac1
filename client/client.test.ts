// The client library against an in-process fake of the remote TaskManager service (same proto,
// real gRPC on a free port): request/response mapping, error mapping, and watch() following a
// stream to its end and resuming after it breaks.
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { createTaskManagerClient, TaskManagerClientError, toChannelCredentials, type StatusUpdate } from './client';
import { waitFor } from '../test/helpers/ports';
import { startFakeTaskManager, type FakeTaskManager } from './testing/fake-task-manager';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(options: Parameters<typeof startFakeTaskManager>[0] = {}, token?: string) {
  const server = await startFakeTaskManager(options);
  cleanups.push(() => server.stop());
  const client = createTaskManagerClient({
    address: server.address,
    token,
    watchRetry: { initialDelayMs: 5, maxDelayMs: 20, retries: 3 },
  });
  cleanups.push(() => client.close());
  return { server, client };
}

async function collect(iterable: AsyncIterable<StatusUpdate>): Promise<StatusUpdate[]> {
  const updates: StatusUpdate[] = [];
  for await (const update of iterable) updates.push(update);
  return updates;
}

function rejection(promise: Promise<unknown>): Promise<TaskManagerClientError> {
  return promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (error: unknown) => {
      expect(error).toBeInstanceOf(TaskManagerClientError);
      return error as TaskManagerClientError;
    },
  );
}

/** Resolves once `count` StreamStatus calls have reached the server. */
function streamCalls(server: FakeTaskManager, count: number) {
  return waitFor(`${count} StreamStatus call(s)`, () => {
    const calls = server.calls.filter((call) => call.method === 'StreamStatus');
    return calls.length >= count && calls;
  }, 10_000, 5);
}

describe('submit', () => {
  it('sends every field in the proto shape and returns camelCase', async () => {
    const { server, client } = await setup({}, 'secret-token');
    const result = await client.submit({
      type: 'echo',
      payload: { hello: 'world' },
      priority: 'high',
      idempotencyKey: 'key-1',
      metadata: { team: 'a' },
      delayMs: 1500,
      maxAttempts: 2,
    });
    expect(result).toEqual({ taskId: 'task-1', state: 'QUEUED', duplicate: false });
    const [call] = server.calls;
    expect(call?.method).toBe('SubmitTask');
    expect(call?.request).toMatchObject({
      type: 'echo',
      payload: '{"hello":"world"}',
      priority: 'PRIORITY_HIGH',
      idempotency_key: 'key-1',
      metadata: { team: 'a' },
      delay_ms: '1500',
      max_attempts: 2,
    });
    expect(call?.metadata.authorization).toBe('Bearer secret-token');
  });

  it('sends JSON text as is, defaults to medium, and leaves optional fields absent', async () => {
    const { server, client } = await setup();
    await client.submit({ type: 'echo', payload: '{"a": 1}' });
    const request = server.calls[0]!.request;
    expect(request.payload).toBe('{"a": 1}');
    expect(request.priority).toBe('PRIORITY_MEDIUM');
    expect(request._delay_ms).toBeUndefined();
    expect(request._idempotency_key).toBeUndefined();
    expect(server.calls[0]!.metadata.authorization).toBeUndefined();
  });

  it('reports a repeated idempotency key as a duplicate of the same task', async () => {
    const { client } = await setup();
    const first = await client.submit({ type: 'echo', payload: {}, idempotencyKey: 'k' });
    const second = await client.submit({ type: 'echo', payload: {}, idempotencyKey: 'k' });
    expect(second).toEqual({ taskId: first.taskId, state: 'QUEUED', duplicate: true });
  });

  it('turns a server refusal into a TaskManagerClientError with the code name and message', async () => {
    const { client } = await setup();
    const error = await rejection(client.submit({ type: 'echo', payload: 'not json' }));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.grpcCode).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toBe('payload is not valid JSON');
    expect(error.message).toBe('INVALID_ARGUMENT: payload is not valid JSON');
  });

  it('refuses a bad priority or a fractional delay without calling the server', async () => {
    const { server, client } = await setup();
    const badPriority = await rejection(client.submit({ type: 'echo', priority: 'urgent' as never }));
    expect(badPriority.code).toBe('INVALID_ARGUMENT');
    expect(badPriority.details).toContain('priority');
    expect(badPriority.details).toContain('urgent');
    const badDelay = await rejection(client.submit({ type: 'echo', delayMs: 1.5 }));
    expect(badDelay.details).toContain('delayMs');
    expect(server.calls).toEqual([]);
  });

  it('reports an unreachable server as UNAVAILABLE', async () => {
    const { server } = await setup();
    await server.stop();
    const client = createTaskManagerClient({ address: server.address, deadlineMs: 5_000 });
    cleanups.push(() => client.close());
    const error = await rejection(client.submit({ type: 'echo' }));
    expect(error.code).toBe('UNAVAILABLE');
  });
});

describe('getTask, getResult, cancel', () => {
  it('converts a task: numbers from int64 strings, priority, parsed payload, history', async () => {
    const { server, client } = await setup();
    const { taskId } = await client.submit({ type: 'echo', payload: { n: 1 }, priority: 'low', metadata: { a: 'b' } });
    server.advance(taskId, 'VALIDATED', { stage: 'ingest' });
    const task = await client.getTask(taskId);
    expect(task).toMatchObject({ taskId, type: 'echo', payload: { n: 1 }, payloadText: '{"n":1}', priority: 'low', metadata: { a: 'b' } });
    expect(task.createdAtMs).toBe(server.tasks.get(taskId)!.createdAtMs);
    expect(task.status).toMatchObject({ state: 'VALIDATED', stage: 'ingest', seq: 2 });
    expect(task.history.map((update) => [update.seq, update.state])).toEqual([
      [1, 'QUEUED'],
      [2, 'VALIDATED'],
    ]);
    expect(typeof task.history[0]!.updatedAtMs).toBe('number');
  });

  it('maps unknown ids to NOT_FOUND', async () => {
    const { client } = await setup();
    const error = await rejection(client.getTask('nope'));
    expect(error.code).toBe('NOT_FOUND');
    expect(error.details).toBe('task nope not found');
  });

  it('parses the output JSON of a result', async () => {
    const { client } = await setup({ autoComplete: true });
    const { taskId } = await client.submit({ type: 'sleep', payload: { ms: 5 } });
    const result = await client.getResult(taskId);
    expect(result).toMatchObject({ taskId, state: 'SUCCEEDED', output: { slept: 5 }, outputText: '{"slept":5}', attempts: 1, error: '' });
  });

  it('cancels an open task and maps cancelling a finished one to FAILED_PRECONDITION', async () => {
    const { client } = await setup();
    const { taskId } = await client.submit({ type: 'echo' });
    expect(await client.cancel(taskId)).toEqual({ taskId, state: 'CANCELLED' });
    const error = await rejection(client.cancel(taskId));
    expect(error.code).toBe('FAILED_PRECONDITION');
  });
});

describe('watch', () => {
  it('starts with the current state when afterSeq is absent and follows live changes to the terminal one', async () => {
    const { server, client } = await setup();
    const { taskId } = await client.submit({ type: 'echo' });
    server.advance(taskId, 'VALIDATED');
    const updates = collect(client.watch(taskId));
    const [call] = await streamCalls(server, 1);
    expect(call!.request._after_seq).toBeUndefined();
    server.advance(taskId, 'SCHEDULED');
    server.advance(taskId, 'RUNNING', { progress: 40, attempt: 1 });
    server.advance(taskId, 'SUCCEEDED', { attempt: 1 });
    const seen = await updates;
    expect(seen.map((update) => [update.seq, update.state])).toEqual([
      [2, 'VALIDATED'],
      [3, 'SCHEDULED'],
      [4, 'RUNNING'],
      [5, 'SUCCEEDED'],
    ]);
    expect(seen[2]).toMatchObject({ taskId, progress: 40, attempt: 1 });
  });

  it('lets the server end a stream that reached a terminal state instead of resetting it', async () => {
    // A reset per finished watch trips HTTP/2 rapid-reset protection on the server (nghttp2: after
    // a burst of 1,000, more than 33 resets a second) and the GOAWAY fails every call on the
    // connection. Here the server ends each stream 50 ms after the terminal state, as the
    // gateway ends it in a later write than the terminal message.
    const { server, client } = await setup({ autoComplete: true, streamEndDelayMs: 50 });
    const ids = await Promise.all([1, 2, 3].map(async () => (await client.submit({ type: 'echo' })).taskId));
    for (const taskId of ids) expect((await client.waitForResult(taskId)).state).toBe('SUCCEEDED');
    expect((await collect(client.watch(ids[0]!, { afterSeq: 0 }))).at(-1)!.state).toBe('SUCCEEDED');
    await waitFor('every stream to have finished', () => server.streamEnds.length === 4, 10_000, 5);
    expect(server.streamEnds).toEqual(['ended', 'ended', 'ended', 'ended']);
  });

  it('replays the whole history with afterSeq 0', async () => {
    const { server, client } = await setup({ autoComplete: true });
    const { taskId } = await client.submit({ type: 'echo' });
    const seen = await collect(client.watch(taskId, { afterSeq: 0 }));
    expect(server.calls.find((call) => call.method === 'StreamStatus')!.request.after_seq).toBe('0');
    expect(seen.map((update) => update.seq)).toEqual(server.tasks.get(taskId)!.history.map((update) => Number(update.seq)));
    expect(seen[0]!.state).toBe('QUEUED');
    expect(seen.at(-1)!.state).toBe('SUCCEEDED');
  });

  it('when the server drops the stream with UNAVAILABLE, resumes after the last seq and yields each seq once', async () => {
    let streamCall = 0;
    const { server, client } = await setup({
      overrides: {
        StreamStatus(call) {
          streamCall += 1;
          const update = (seq: number, state: string) => ({ task_id: 't', state, seq: String(seq), stage: 'fake' });
          if (streamCall === 1) {
            for (const [seq, state] of [[1, 'QUEUED'], [2, 'VALIDATED'], [3, 'ENRICHED']] as const) call.write(update(seq, state));
            call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'gateway going away' });
            return;
          }
          // A server may replay what the client has already seen; the client must not repeat it.
          for (const [seq, state] of [[3, 'ENRICHED'], [4, 'SCHEDULED'], [5, 'RUNNING'], [6, 'SUCCEEDED']] as const) call.write(update(seq, state));
          call.end();
        },
      },
    });
    const seen = await collect(client.watch('t', { afterSeq: 0 }));
    expect(seen.map((update) => update.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    const calls = server.calls.filter((call) => call.method === 'StreamStatus');
    expect(calls.map((call) => call.request.after_seq)).toEqual(['0', '3']);
  });

  it('when the connection is lost and the server comes back on the same address, resumes without a gap', async () => {
    const first = await startFakeTaskManager();
    const client = createTaskManagerClient({ address: first.address, watchRetry: { initialDelayMs: 20, maxDelayMs: 200, retries: 50 } });
    cleanups.push(() => client.close());
    const { taskId } = await client.submit({ type: 'echo' });
    first.advance(taskId, 'VALIDATED');
    const seen: StatusUpdate[] = [];
    const done = (async () => {
      for await (const update of client.watch(taskId)) seen.push(update);
    })();
    await streamCalls(first, 1);
    await waitFor('the first update', () => seen.length > 0, 10_000, 5);
    await first.stop();
    // Changes that happen while the client is disconnected.
    first.advance(taskId, 'ENRICHED');
    first.advance(taskId, 'SCHEDULED');
    const second = await startFakeTaskManager({ port: first.port, tasks: first.tasks });
    cleanups.push(() => second.stop());
    const [resumed] = await streamCalls(second, 1);
    expect(resumed!.request.after_seq).toBe('2');
    second.advance(taskId, 'SUCCEEDED');
    await done;
    expect(seen.map((update) => [update.seq, update.state])).toEqual([
      [2, 'VALIDATED'],
      [3, 'ENRICHED'],
      [4, 'SCHEDULED'],
      [5, 'SUCCEEDED'],
    ]);
  });

  it('throws NOT_FOUND at once, without retrying', async () => {
    const { server, client } = await setup();
    const error = await rejection(collect(client.watch('missing')));
    expect(error.code).toBe('NOT_FOUND');
    expect(server.calls.filter((call) => call.method === 'StreamStatus')).toHaveLength(1);
  });

  it('gives up after the configured number of retries when the stream keeps failing', async () => {
    const { server, client } = await setup({
      overrides: { StreamStatus: (call) => call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'still down' }) },
    });
    const error = await rejection(collect(client.watch('t')));
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.details).toBe('still down');
    expect(server.calls.filter((call) => call.method === 'StreamStatus')).toHaveLength(4); // 1 + 3 retries
  });

  it('ends quietly when the caller aborts, and cancels the call', async () => {
    const { server, client } = await setup();
    const { taskId } = await client.submit({ type: 'echo' });
    const controller = new AbortController();
    const seen: StatusUpdate[] = [];
    const done = (async () => {
      for await (const update of client.watch(taskId, { signal: controller.signal })) {
        seen.push(update);
        controller.abort();
      }
    })();
    await done;
    expect(seen.map((update) => update.state)).toEqual(['QUEUED']);
    expect(server.calls.filter((call) => call.method === 'StreamStatus')).toHaveLength(1);
  });
});

describe('waitForResult', () => {
  it('returns the stored result once the task succeeds', async () => {
    const { client } = await setup({ autoComplete: true });
    const { taskId } = await client.submit({ type: 'hash', payload: { data: 'abc' } });
    const result = await client.waitForResult(taskId);
    expect(result.state).toBe('SUCCEEDED');
    expect(result.output).toEqual({ sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad' });
  });

  it('builds a result from the last status of a task that has none (REJECTED)', async () => {
    const { client } = await setup({ autoComplete: true });
    const { taskId } = await client.submit({ type: 'no-such-type' });
    const result = await client.waitForResult(taskId);
    expect(result).toMatchObject({ taskId, state: 'REJECTED', output: undefined, error: "unknown task type 'no-such-type'" });
  });
});

describe('channel credentials', () => {
  it('plaintext by default, TLS with tls: true or a CA, your own credentials as given, never both', () => {
    expect(toChannelCredentials({})._isSecure()).toBe(false);
    expect(toChannelCredentials({ tls: false })._isSecure()).toBe(false);
    expect(toChannelCredentials({ tls: true })._isSecure()).toBe(true);
    expect(toChannelCredentials({ tls: {} })._isSecure()).toBe(true);
    const own = grpc.credentials.createSsl();
    expect(toChannelCredentials({ credentials: own })).toBe(own);
    expect(() => toChannelCredentials({ credentials: own, tls: true })).toThrow('INVALID_ARGUMENT: set either credentials or tls, not both');
  });
});
