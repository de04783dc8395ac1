// A task type served by any HTTP endpoint, in any language (DESIGN §9). The worker keeps what
// it always owns (attempts, leases, status, progress, cancellation, results, dead letters) and
// POSTs each attempt to the endpoint as a binary-mode CloudEvent `taskmanager.task.execute`:
// ce-subject = the task id, extensions attempt, maxattempts, deadline (epoch ms) and the trace
// context; the body is the payload. The answer decides the attempt:
// - 2xx with a JSON body: the output (no body: null);
// - 2xx `application/x-ndjson`: `{"progress": N, "message": "…"}` lines, shown live as RUNNING
//   statuses, then one `{"output": …}` line;
// - 408, 429, 5xx, a broken connection: retryable (the type's retry schedule applies);
// - any other status: a permanent failure, the body's text as the reason.
// The worker's AbortSignal (cancel, timeout) destroys the request: the handler sees its
// connection close. Connections are pooled and kept alive per type.
import http from 'node:http';
import { loadHttps } from '../../shared/lazy-tls';
import { describeError, PermanentError, RetryableError } from '../../shared/errors';
import { injectTraceContext, SpanKind, withSpan } from '../../shared/tracing';
import type { TaskHandler, TaskRunContext } from './handlers';

export const EXECUTE_EVENT_TYPE = 'taskmanager.task.execute';
const NDJSON_TYPES = new Set(['application/x-ndjson', 'application/ndjson']);
/** How much of an error answer's body becomes the reason. */
const MAX_REASON_CHARS = 500;

export type HttpHandlerOptions = {
  /** Largest answer body accepted; a bigger one fails the attempt for good. */
  maxResponseBytes: number;
  /** Connections kept per endpoint (the worker's concurrency). */
  maxSockets: number;
};

/** Whether another attempt may get a different answer (DESIGN §9). */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** The headers of an execute request: CloudEvents binary mode plus the trace context. */
export function toExecuteHeaders(type: string, ctx: TaskRunContext, traceparent: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, application/x-ndjson',
    'ce-specversion': '1.0',
    'ce-type': EXECUTE_EVENT_TYPE,
    'ce-source': `/taskmanager/worker/${type}`,
    'ce-id': `${ctx.task.id}:${ctx.attempt}`,
    'ce-subject': ctx.task.id,
    'ce-attempt': String(ctx.attempt),
    'ce-maxattempts': String(ctx.task.lastAttempt),
    'ce-deadline': String(ctx.task.deadlineMs),
  };
  if (traceparent) {
    headers['ce-traceparent'] = traceparent;
    headers.traceparent = traceparent;
  }
  return headers;
}

/** An error answer as the reason of the attempt's failure. */
export function toFailure(status: number, body: string): Error {
  const text = body.trim();
  const reason = `handler answered ${status}${text ? `: ${text.length > MAX_REASON_CHARS ? `${text.slice(0, MAX_REASON_CHARS)}…` : text}` : ''}`;
  return isRetryableStatus(status) ? new RetryableError(reason) : new PermanentError(reason);
}

/** A JSON answer's output (an empty body is null). */
export function toJsonOutput(body: string): unknown {
  if (body.trim() === '') return null;
  try {
    return JSON.parse(body);
  } catch (error) {
    throw new PermanentError(`handler answered 2xx with a body that is not JSON (${describeError(error)}); send JSON or application/x-ndjson`);
  }
}

export type AnswerLine = { kind: 'progress'; percent: number; message: string | undefined } | { kind: 'output'; output: unknown };

/** One line of an NDJSON answer, or the permanent error that names what is wrong with it. */
export function toAnswerLine(line: string, lineNumber: number): AnswerLine {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new PermanentError(`handler's NDJSON line ${lineNumber} is not JSON: ${line.slice(0, 200)}`);
  }
  const value = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as { output?: unknown; progress?: unknown; message?: unknown };
  if ('output' in value) return { kind: 'output', output: value.output };
  if (typeof value.progress === 'number' && Number.isFinite(value.progress)) {
    return { kind: 'progress', percent: value.progress, message: typeof value.message === 'string' ? value.message : undefined };
  }
  throw new PermanentError(`handler's NDJSON line ${lineNumber} is neither {"progress": N} nor {"output": …}: ${line.slice(0, 200)}`);
}

/** Reads an NDJSON answer as it arrives: progress reported line by line, the output at the end. */
function readNdjson(res: http.IncomingMessage, ctx: TaskRunContext, limitBytes: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let pending = '';
    let received = 0;
    let lineNumber = 0;
    let output: { value: unknown } | undefined;
    const fail = (error: unknown) => {
      res.destroy();
      reject(error);
    };
    const takeLine = (line: string) => {
      lineNumber += 1;
      if (line.trim() === '') return;
      const answer = toAnswerLine(line, lineNumber);
      if (answer.kind === 'output') output = { value: answer.output };
      else void ctx.reportProgress(answer.percent, answer.message);
    };
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      received += Buffer.byteLength(chunk);
      if (received > limitBytes) return fail(new PermanentError(`handler's answer is larger than ${limitBytes} bytes`));
      pending += chunk;
      try {
        for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
          takeLine(pending.slice(0, end));
          pending = pending.slice(end + 1);
        }
      } catch (error) {
        fail(error);
      }
    });
    res.on('end', () => {
      try {
        takeLine(pending);
      } catch (error) {
        return reject(error);
      }
      if (output) resolve(output.value);
      else reject(new PermanentError('handler\'s NDJSON answer ended without an {"output": …} line'));
    });
    res.on('error', (error) => reject(error));
  });
}

/** Reads a whole answer body as text, up to the limit. */
function readText(res: http.IncomingMessage, limitBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    res.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > limitBytes) {
        res.destroy();
        reject(new PermanentError(`handler's answer is larger than ${limitBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', (error) => reject(error));
  });
}

/** What the answer means for the attempt: its output, or the error that fails it. */
async function toOutput(res: http.IncomingMessage, ctx: TaskRunContext, limitBytes: number): Promise<unknown> {
  const status = res.statusCode ?? 0;
  if (status < 200 || status >= 300) throw toFailure(status, await readText(res, limitBytes));
  const contentType = (res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (NDJSON_TYPES.has(contentType)) return readNdjson(res, ctx, limitBytes);
  return toJsonOutput(await readText(res, limitBytes));
}

/** A broken connection or an unreachable endpoint: another attempt may reach it. */
function toConnectionFailure(error: unknown, origin: string): unknown {
  if (error instanceof PermanentError || error instanceof RetryableError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  return new RetryableError(`handler at ${origin} failed before answering: ${describeError(error)}${typeof code === 'string' ? ` (${code})` : ''}`, {
    cause: error,
  });
}

export function createHttpTaskHandler(type: string, url: string, options: HttpHandlerOptions): TaskHandler & { close(): void } {
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  const transport = secure ? loadHttps() : http;
  const agent = new transport.Agent({ keepAlive: true, maxSockets: options.maxSockets });
  const send = transport.request;

  const execute = (payload: unknown, ctx: TaskRunContext): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const body = JSON.stringify(payload) ?? 'null';
      const headers = { ...toExecuteHeaders(type, ctx, injectTraceContext<{ traceparent?: string }>({}).traceparent), 'content-length': String(Buffer.byteLength(body)) };
      // The signal destroys the request (and its socket) on cancel or timeout; the worker's run
      // step reports the signal's reason, not the request's abort error.
      const req = send(target, { method: 'POST', agent, headers, signal: ctx.signal }, (res) => {
        toOutput(res, ctx, options.maxResponseBytes).then(resolve, (error: unknown) => reject(toConnectionFailure(error, target.origin)));
      });
      req.on('error', (error) => reject(toConnectionFailure(error, target.origin)));
      req.end(body);
    });

  return {
    type,
    run: (payload, ctx) =>
      withSpan(`execute ${type}`, SpanKind.CLIENT, { 'url.full': target.href, 'taskmanager.attempt': ctx.attempt }, () => execute(payload, ctx)),
    close: () => agent.destroy(),
  };
}
