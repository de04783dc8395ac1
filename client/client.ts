// The typed Taskmanager client: camelCase types and JS numbers over the TaskManager gRPC service,
// one error type (TaskManagerClientError), and a status watch that survives a gateway restart.
// It imports nothing from the rest of the repository, so other Node services can use it as is.
import * as grpc from '@grpc/grpc-js';
import { invalidArgument, TaskManagerClientError, toClientError } from './errors';
import { loadTaskManagerService } from './proto';
import {
  isPriority,
  isTerminalState,
  PRIORITIES,
  toCancelResult,
  toStatusUpdate,
  toSubmitResult,
  toTask,
  toTaskResult,
  toDeadLetterPage,
  toListDeadLettersRequest,
  toAuditPage,
  toQueueStats,
  toReplayRequest,
  toReplayResult,
  toListTasksRequest,
  toTaskPage,
  toTaskType,
  toWirePriority,
  type CancelResult,
  type StatusUpdate,
  type SubmitInput,
  type SubmitResult,
  type Task,
  type TaskResult,
  type TaskType,
  type DeadLetterPage,
  type ListDeadLettersQuery,
  type AuditPage,
  type QueueStats,
  type ReplayQuery,
  type ReplayResult,
  type ListTasksQuery,
  type TaskPage,
} from './types';
import { followStatus, type RetryPolicy, type WatchOptions } from './watch';

export type ClientOptions = {
  /** host:port of the gateway (or of Envoy in front of it). */
  address: string;
  /** Sent as `authorization: Bearer <token>` on every call. Over a network, use `tls`. */
  token?: string;
  protoPath?: string;
  /**
   * TLS to the gateway: `true` verifies its certificate against the system's CAs, `{ ca }`
   * against that CA (PEM text or bytes: a private or self-signed one). Default: plaintext (the
   * local stack and Envoy in compose speak h2c).
   */
  tls?: boolean | TlsOptions;
  /** Channel credentials of your own (instead of `tls`). */
  credentials?: grpc.ChannelCredentials;
  /** Deadline of each unary call; default 30 s. Streams have none. */
  deadlineMs?: number;
  /** Backoff of watch() reconnects. */
  watchRetry?: Partial<RetryPolicy>;
  channelOptions?: grpc.ChannelOptions;
};

export type TlsOptions = { ca?: string | Buffer };

export type WaitOptions = { signal?: AbortSignal; retry?: Partial<RetryPolicy> };

export type TaskManagerClient = {
  submit(input: SubmitInput): Promise<SubmitResult>;
  getTask(taskId: string): Promise<Task>;
  /** NOT_FOUND while the task has no result. */
  getResult(taskId: string): Promise<TaskResult>;
  /** FAILED_PRECONDITION once the task has finished. */
  cancel(taskId: string): Promise<CancelResult>;
  /** Status updates up to and including the terminal one; resumes after a broken stream. */
  watch(taskId: string, options?: WatchOptions): AsyncIterable<StatusUpdate>;
  /** Waits for a terminal state, then returns the result. A task that ends without one
   *  (REJECTED, cancelled before it ran) gets a result built from its last status. */
  waitForResult(taskId: string, options?: WaitOptions): Promise<TaskResult>;
  /** The task types the deployment runs: built-ins and registered ones. */
  listTaskTypes(): Promise<TaskType[]>;
  /** One page of the caller's tasks, newest first, filtered (see ListTasksQuery). */
  listTasks(query?: ListTasksQuery): Promise<TaskPage>;
  /** One page of the caller's dead letters, newest first, with how many the cap has dropped. */
  listDeadLetters(query?: ListDeadLettersQuery): Promise<DeadLetterPage>;
  /** A new task for each chosen dead letter; again for the same letter: the same task. */
  replayDeadLetters(query: ReplayQuery): Promise<ReplayResult>;
  /** One page of a task's audit trail, oldest first. */
  listAuditEvents(taskId: string, page?: { pageSize?: number; pageToken?: string }): Promise<AuditPage>;
  getQueueStats(): Promise<QueueStats>;
  /** The queue's sources stop pulling (in-flight work finishes) until resumed. */
  pauseQueue(queue: string): Promise<{ queue: string; paused: boolean }>;
  resumeQueue(queue: string): Promise<{ queue: string; paused: boolean }>;
  close(): void;
};

const DEFAULT_DEADLINE_MS = 30_000;
/** How long a watch that saw the terminal state waits for the server to end the call. */
const STREAM_END_GRACE_MS = 1_000;

/** Resolves when `done` does or after `ms`, whichever comes first; the timer never holds the process. */
function within(done: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const elapsed = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  return Promise.race([done, elapsed]).finally(() => clearTimeout(timer));
}

type Wire = Record<string, unknown>;
type UnaryMethod = (
  request: Wire,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response?: Wire) => void,
) => grpc.ClientUnaryCall;
type StreamMethod = (request: Wire, metadata: grpc.Metadata) => grpc.ClientReadableStream<Wire>;

function isWholeNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

/** SubmitInput → SubmitTaskRequest. Refuses what the wire cannot carry faithfully; ranges and
 *  the payload's JSON validity are the server's to judge (one source of truth). */
export function toSubmitRequest(input: SubmitInput): Wire {
  const priority = input.priority ?? 'medium';
  if (!isPriority(priority)) throw invalidArgument(`priority must be one of ${PRIORITIES.join(', ')} (got ${JSON.stringify(priority)})`);
  if (input.delayMs !== undefined && !isWholeNumber(input.delayMs)) throw invalidArgument(`delayMs must be an integer (got ${String(input.delayMs)})`);
  if (input.maxAttempts !== undefined && !isWholeNumber(input.maxAttempts)) {
    throw invalidArgument(`maxAttempts must be an integer (got ${String(input.maxAttempts)})`);
  }
  for (const [key, value] of Object.entries(input.metadata ?? {})) {
    if (typeof value !== 'string') throw invalidArgument(`metadata.${key} must be a string`);
  }
  const request: Wire = {
    type: input.type,
    payload: toPayloadText(input.payload),
    priority: toWirePriority(priority),
    metadata: { ...input.metadata },
    max_attempts: input.maxAttempts ?? 0,
  };
  if (input.idempotencyKey !== undefined) request.idempotency_key = input.idempotencyKey;
  if (input.delayMs !== undefined) request.delay_ms = String(input.delayMs);
  return request;
}

function toPayloadText(payload: unknown): string {
  if (payload === undefined) return '{}';
  if (typeof payload === 'string') return payload;
  let text: string | undefined;
  try {
    text = JSON.stringify(payload);
  } catch (error) {
    throw invalidArgument(`payload cannot be serialized to JSON: ${(error as Error).message}`);
  }
  if (text === undefined) throw invalidArgument('payload cannot be serialized to JSON');
  return text;
}

/** The channel's credentials: `credentials` as given, TLS per `tls`, else plaintext. */
export function toChannelCredentials(options: Pick<ClientOptions, 'tls' | 'credentials'>): grpc.ChannelCredentials {
  if (options.credentials && options.tls) throw invalidArgument('set either credentials or tls, not both');
  if (options.credentials) return options.credentials;
  if (!options.tls) return grpc.credentials.createInsecure();
  const ca = options.tls === true ? undefined : options.tls.ca;
  return grpc.credentials.createSsl(ca === undefined ? null : Buffer.from(ca));
}

export function createTaskManagerClient(options: ClientOptions): TaskManagerClient {
  const Service = loadTaskManagerService({ protoPath: options.protoPath });
  const stub = new Service(options.address, toChannelCredentials(options), options.channelOptions);
  const unaryMethods = stub as unknown as Record<string, UnaryMethod>;
  const streamStatus = (stub as unknown as { StreamStatus: StreamMethod }).StreamStatus;
  const deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;

  const metadata = (): grpc.Metadata => {
    const md = new grpc.Metadata();
    if (options.token) md.set('authorization', `Bearer ${options.token}`);
    return md;
  };

  const unary = (method: string, request: Wire): Promise<Wire> =>
    new Promise((resolve, reject) => {
      unaryMethods[method]!.call(stub, request, metadata(), { deadline: Date.now() + deadlineMs }, (error, response) => {
        if (error) reject(toClientError(error));
        else resolve(response ?? {});
      });
    });

  async function* openStream(taskId: string, afterSeq: number | undefined, signal: AbortSignal | undefined): AsyncGenerator<StatusUpdate> {
    // after_seq is proto3 `optional`: leaving it out (not 0) asks for the current state first.
    const request: Wire = afterSeq === undefined ? { task_id: taskId } : { task_id: taskId, after_seq: String(afterSeq) };
    const call = streamStatus.call(stub, request, metadata());
    // The iterator below sees errors itself; this keeps a late one (after cancel) from crashing.
    call.on('error', () => undefined);
    const finished = new Promise<void>((resolve) => call.once('status', () => resolve()));
    const onAbort = () => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      // Not destroyed on return: destroying builds an AbortError, stack and all, per watch,
      // and the call ends by itself right after the terminal state (below).
      for await (const message of call.iterator({ destroyOnReturn: false })) yield toStatusUpdate(message as Wire);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      // Stopped at a terminal state: the server ends the call right after it, so let it end, in
      // the background (the caller has what it wanted), rather than reset the stream. A reset per
      // finished watch trips the server's HTTP/2 rapid-reset protection (nghttp2: more than 33 a
      // second after a burst of 1,000), whose GOAWAY fails every call on the connection. Cancel
      // only what does not end in time.
      if (signal?.aborted) call.cancel();
      else void within(finished, STREAM_END_GRACE_MS).then(() => call.cancel());
    }
  }

  const watch = (taskId: string, watchOptions: WatchOptions = {}): AsyncIterable<StatusUpdate> =>
    followStatus(
      { open: (afterSeq, signal) => openStream(taskId, afterSeq, signal) },
      { ...watchOptions, retry: { ...options.watchRetry, ...watchOptions.retry } },
    );

  const getResult = async (taskId: string) => toTaskResult(await unary('GetResult', { task_id: taskId }));

  return {
    submit: async (input) => toSubmitResult(await unary('SubmitTask', toSubmitRequest(input))),
    getTask: async (taskId) => toTask(await unary('GetTask', { task_id: taskId })),
    getResult,
    cancel: async (taskId) => toCancelResult(await unary('CancelTask', { task_id: taskId })),
    watch,
    async waitForResult(taskId, waitOptions = {}) {
      let last: StatusUpdate | undefined;
      for await (const update of watch(taskId, { signal: waitOptions.signal, retry: waitOptions.retry })) last = update;
      if (!last || !isTerminalState(last.state)) {
        throw new TaskManagerClientError(grpc.status.CANCELLED, `stopped waiting for task ${taskId} before it finished`);
      }
      try {
        return await getResult(taskId);
      } catch (error) {
        if (!(error instanceof TaskManagerClientError) || error.grpcCode !== grpc.status.NOT_FOUND) throw error;
        return {
          taskId,
          state: last.state,
          output: undefined,
          outputText: '',
          error: last.message,
          attempts: last.attempt,
          startedAtMs: 0,
          finishedAtMs: last.updatedAtMs,
        };
      }
    },
    listTasks: async (query = {}) => toTaskPage(await unary('ListTasks', toListTasksRequest(query))),
    listDeadLetters: async (query = {}) => toDeadLetterPage(await unary('ListDeadLetters', toListDeadLettersRequest(query))),
    replayDeadLetters: async (query) => toReplayResult(await unary('ReplayDeadLetters', toReplayRequest(query))),
    listAuditEvents: async (taskId, page = {}) =>
      toAuditPage(await unary('ListAuditEvents', { task_id: taskId, page_size: page.pageSize ?? 0, page_token: page.pageToken ?? '' })),
    getQueueStats: async () => toQueueStats(await unary('GetQueueStats', {})),
    pauseQueue: async (queue) => toQueueAnswer(await unary('PauseQueue', { queue })),
    resumeQueue: async (queue) => toQueueAnswer(await unary('ResumeQueue', { queue })),
    listTaskTypes: async () => {
      const wire = await unary('ListTaskTypes', {});
      return Array.isArray(wire.task_types) ? (wire.task_types as Wire[]).map(toTaskType) : [];
    },
    close: () => stub.close(),
  };
}

function toQueueAnswer(wire: Wire): { queue: string; paused: boolean } {
  return { queue: typeof wire.queue === 'string' ? wire.queue : '', paused: wire.paused === true };
}

export { TaskManagerClientError } from './errors';
export type { RetryPolicy, WatchOptions } from './watch';
export * from './types';
