// The HTTP handler client against real node:http servers standing in for a user's handler.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { PermanentError, RetryableError } from '../../shared/errors';
import { waitFor } from '../../test/helpers/ports';
import { recordingContext, type RecordingContext } from '../../test/helpers/task-run-context';
import type { TaskRunContext } from './handlers';
import { createHttpTaskHandler, isRetryableStatus, toAnswerLine, toExecuteHeaders, toFailure, toJsonOutput } from './http-handler';

type Route = (req: IncomingMessage, res: ServerResponse, body: string) => void;

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

async function serve(route: Route): Promise<string> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => route(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/run`;
}

/** Attempt 2 of 3 of task-1: what the headers test reads back. */
function context(overrides: Partial<TaskRunContext> = {}): RecordingContext {
  return recordingContext({ attempt: 2, task: { id: 'task-1', lastAttempt: 3, deadlineMs: 1_800_000_000_000 }, ...overrides });
}

const OPTIONS = { maxResponseBytes: 1024, maxSockets: 4 };

describe('HTTP task handlers (pure parts)', () => {
  it('408, 429 and 5xx are retryable; every other status is permanent, with the body as the reason', () => {
    expect([408, 429, 500, 503, 599].every(isRetryableStatus)).toBe(true);
    expect([400, 401, 404, 409, 422, 302].some(isRetryableStatus)).toBe(false);
    expect(toFailure(503, 'busy')).toBeInstanceOf(RetryableError);
    const permanent = toFailure(422, '{"error":"payload.text must be a string"}');
    expect(permanent).toBeInstanceOf(PermanentError);
    expect(permanent.message).toBe('handler answered 422: {"error":"payload.text must be a string"}');
    expect(toFailure(404, '').message).toBe('handler answered 404');
  });

  it('reads JSON output, and names a body that is not JSON', () => {
    expect(toJsonOutput('{"a":1}')).toEqual({ a: 1 });
    expect(toJsonOutput('')).toBeNull();
    expect(() => toJsonOutput('<html>')).toThrow(PermanentError);
  });

  it('reads NDJSON lines: progress, output, or a clear error for anything else', () => {
    expect(toAnswerLine('{"progress": 40, "message": "half"}', 1)).toEqual({ kind: 'progress', percent: 40, message: 'half' });
    expect(toAnswerLine('{"output": [1,2]}', 2)).toEqual({ kind: 'output', output: [1, 2] });
    expect(toAnswerLine('{"output": null}', 2)).toEqual({ kind: 'output', output: null });
    expect(() => toAnswerLine('{"progress": "x"}', 3)).toThrow(/line 3 is neither/);
    expect(() => toAnswerLine('nope', 4)).toThrow(/line 4 is not JSON/);
  });

  it('sends a binary-mode CloudEvent: the task id as subject, attempt, attempt limit, deadline, trace context', () => {
    const headers = toExecuteHeaders('resize', context(), '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    expect(headers).toMatchObject({
      'ce-specversion': '1.0',
      'ce-type': 'taskmanager.task.execute',
      'ce-source': '/taskmanager/worker/resize',
      'ce-id': 'task-1:2',
      'ce-subject': 'task-1',
      'ce-attempt': '2',
      'ce-maxattempts': '3',
      'ce-deadline': '1800000000000',
      'ce-traceparent': '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      'content-type': 'application/json',
    });
  });
});

describe('HTTP task handlers over real HTTP', () => {
  it('POSTs the payload as the body and takes the JSON answer as the output', async () => {
    const seen: { headers?: IncomingMessage['headers']; body?: string } = {};
    const url = await serve((req, res, body) => {
      Object.assign(seen, { headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ length: (JSON.parse(body) as { text: string }).text.length }));
    });
    const handler = createHttpTaskHandler('count', url, OPTIONS);
    expect(await handler.run({ text: 'hello' }, context())).toEqual({ length: 5 });
    expect(seen.body).toBe('{"text":"hello"}');
    expect(seen.headers).toMatchObject({ 'ce-type': 'taskmanager.task.execute', 'ce-subject': 'task-1', 'ce-attempt': '2' });
    handler.close();
  });

  it('reports NDJSON progress lines as they arrive and ends with the output line', async () => {
    let release: () => void = () => undefined;
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write('{"progress": 25, "message": "a quarter"}\n{"progress": 50');
      // The rest only after the worker has reported the first line: it is read as it arrives.
      release = () => res.end(', "message": "half"}\n{"output": {"done": true}}\n');
    });
    const ctx = context();
    const handler = createHttpTaskHandler('stream', url, OPTIONS);
    const running = handler.run({}, ctx);
    await waitFor('the first progress line', () => ctx.progress.length === 1 || undefined, 5_000);
    release();
    expect(await running).toEqual({ done: true });
    expect(ctx.progress).toEqual([
      [25, 'a quarter'],
      [50, 'half'],
    ]);
    handler.close();
  });

  it('an NDJSON answer without an output line fails for good', async () => {
    const url = await serve((_req, res) => res.writeHead(200, { 'content-type': 'application/x-ndjson' }).end('{"progress": 10}\n'));
    await expect(createHttpTaskHandler('t', url, OPTIONS).run({}, context())).rejects.toThrow(/ended without an \{"output": …\} line/);
  });

  it('503 is retryable and 422 permanent, each with the body as the reason', async () => {
    const url = await serve((req, res) => {
      if (req.headers['ce-attempt'] === '1') res.writeHead(503).end('warming up');
      else res.writeHead(422, { 'content-type': 'application/json' }).end('{"error":"bad colour"}');
    });
    const handler = createHttpTaskHandler('t', url, OPTIONS);
    const first = handler.run({}, context({ attempt: 1 }));
    await expect(first).rejects.toBeInstanceOf(RetryableError);
    await expect(first).rejects.toThrow('handler answered 503: warming up');
    const second = handler.run({}, context({ attempt: 2 }));
    await expect(second).rejects.toBeInstanceOf(PermanentError);
    await expect(second).rejects.toThrow('handler answered 422: {"error":"bad colour"}');
  });

  it('an answer over the size limit fails for good', async () => {
    const url = await serve((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify('x'.repeat(5_000))));
    await expect(createHttpTaskHandler('t', url, OPTIONS).run({}, context())).rejects.toThrow('larger than 1024 bytes');
  });

  it('a connection that breaks before the answer, or nobody listening, is retryable', async () => {
    const url = await serve((req) => req.socket.destroy());
    await expect(createHttpTaskHandler('t', url, OPTIONS).run({}, context())).rejects.toBeInstanceOf(RetryableError);
    await expect(createHttpTaskHandler('t', 'http://127.0.0.1:1/', OPTIONS).run({}, context())).rejects.toThrow(/failed before answering.*ECONNREFUSED/);
  });

  it('the abort signal (cancel, timeout) closes the connection: the handler sees it', async () => {
    let closedByWorker = false;
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write('{"progress": 1}\n');
      res.on('close', () => {
        closedByWorker = !res.writableEnded;
      });
    });
    const controller = new AbortController();
    const ctx = context({ signal: controller.signal });
    const running = createHttpTaskHandler('t', url, OPTIONS).run({}, ctx);
    await waitFor('the handler to start', () => ctx.progress.length > 0 || undefined, 5_000);
    controller.abort(new Error('task was cancelled while running'));
    await expect(running).rejects.toThrow();
    await waitFor('the handler to see its connection close', () => closedByWorker || undefined, 5_000);
  });
});
