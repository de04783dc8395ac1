// Test double of the *remote* TaskManager service, served by @grpc/grpc-js from the same proto
// on a free port. It keeps tasks in memory with the gateway's observable behaviour (seq per
// change, StreamStatus after_seq semantics of docs/decisions/0002, NOT_FOUND/FAILED_PRECONDITION),
// records every call, and lets a test drive state changes or replace any method.
import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { loadTaskManagerService } from '../proto';

type Wire = Record<string, unknown>;
type AnyCall = grpc.ServerUnaryCall<Wire, Wire> & grpc.ServerWritableStream<Wire, Wire>;
export type FakeMethod = 'SubmitTask' | 'GetTask' | 'StreamStatus' | 'GetResult' | 'CancelTask';
export type FakeHandler = (call: AnyCall, callback: grpc.sendUnaryData<Wire>) => void;

export type FakeTask = {
  taskId: string;
  type: string;
  payload: string;
  priority: string;
  metadata: Record<string, string>;
  maxAttempts: number;
  createdAtMs: number;
  history: Wire[];
  result?: Wire;
};

export type RecordedCall = { method: FakeMethod; request: Wire; metadata: Record<string, string> };

export type FakeTaskManager = {
  address: string;
  port: number;
  tasks: Map<string, FakeTask>;
  calls: RecordedCall[];
  /** How each StreamStatus call ended, in order: the server ended it after a terminal state, or
   * the client cancelled it (an HTTP/2 stream reset). */
  streamEnds: Array<'ended' | 'cancelled'>;
  /** Appends a status change (next seq) and sends it to open streams of that task. */
  advance(taskId: string, state: string, extra?: { stage?: string; attempt?: number; progress?: number; message?: string }): Wire;
  stop(): Promise<void>;
};

export type FakeOptions = {
  /** Run every submitted task through its whole lifecycle at once (QUEUED … terminal). */
  autoComplete?: boolean;
  /** Replace a method (the others keep their fake behaviour). */
  overrides?: Partial<Record<FakeMethod, FakeHandler>>;
  /** Bind this port (to bring a "restarted" server back on the same address). */
  port?: number;
  /** Share the task store with an earlier instance (a restart). */
  tasks?: Map<string, FakeTask>;
  /** End a status stream this long after its terminal state, not at once (the gateway's end
   * follows the terminal message in a later write). */
  streamEndDelayMs?: number;
};

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED']);
const KNOWN_TYPES = new Set(['echo', 'sleep', 'hash', 'fail', 'flaky']);

function fail(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}

function hasAfterSeq(request: Wire): boolean {
  // proto3 `optional`: proto-loader with oneofs:true names the set member in `_after_seq`.
  return request._after_seq === 'after_seq';
}

export async function startFakeTaskManager(options: FakeOptions = {}): Promise<FakeTaskManager> {
  const Service = loadTaskManagerService();
  const tasks = options.tasks ?? new Map<string, FakeTask>();
  const calls: RecordedCall[] = [];
  const streamEnds: FakeTaskManager['streamEnds'] = [];
  const listeners = new Map<string, Set<(update: Wire) => void>>();
  const idempotency = new Map<string, string>();
  let nextId = tasks.size + 1;

  const advance: FakeTaskManager['advance'] = (taskId, state, extra = {}) => {
    const task = tasks.get(taskId);
    if (!task) throw new Error(`fake: no task ${taskId}`);
    const update: Wire = {
      task_id: taskId,
      state,
      stage: extra.stage ?? 'fake',
      attempt: extra.attempt ?? 0,
      message: extra.message ?? '',
      progress: extra.progress ?? 0,
      updated_at_ms: String(Date.now()),
      seq: String(task.history.length + 1),
    };
    task.history.push(update);
    for (const listener of listeners.get(taskId) ?? []) listener(update);
    return update;
  };

  const complete = (task: FakeTask) => {
    const id = task.taskId;
    if (!KNOWN_TYPES.has(task.type)) {
      advance(id, 'REJECTED', { stage: 'ingest', message: `unknown task type '${task.type}'` });
      return;
    }
    advance(id, 'VALIDATED', { stage: 'ingest' });
    advance(id, 'ENRICHED', { stage: 'ingest' });
    advance(id, 'SCHEDULED', { stage: 'scheduler' });
    const payload = JSON.parse(task.payload) as Record<string, unknown>;
    const attemptsToFail = task.type === 'fail' ? Infinity : task.type === 'flaky' ? Number(payload.failures ?? 0) : 0;
    const maxAttempts = task.maxAttempts || 5;
    let attempt = 1;
    for (; ; attempt += 1) {
      advance(id, 'RUNNING', { stage: 'worker', attempt, progress: 0 });
      advance(id, 'RUNNING', { stage: 'worker', attempt, progress: 50 });
      if (attempt > attemptsToFail) break;
      if (attempt >= maxAttempts) {
        task.result = { task_id: id, state: 'FAILED', output: '', error: 'fake failure', attempts: attempt };
        advance(id, 'FAILED', { stage: 'result-store', attempt, message: 'fake failure' });
        return;
      }
      advance(id, 'RETRYING', { stage: 'worker', attempt, message: 'fake failure' });
    }
    const output =
      task.type === 'hash'
        ? { sha256: createHash('sha256').update(String(payload.data ?? '')).digest('hex') }
        : task.type === 'sleep'
          ? { slept: payload.ms }
          : task.type === 'flaky'
            ? { attempts: attempt }
            : payload;
    task.result = { task_id: id, state: 'SUCCEEDED', output: JSON.stringify(output), error: '', attempts: attempt };
    advance(id, 'SUCCEEDED', { stage: 'result-store', attempt });
  };

  const toWireTask = (task: FakeTask): Wire => ({
    task_id: task.taskId,
    type: task.type,
    payload: task.payload,
    priority: task.priority,
    metadata: task.metadata,
    created_at_ms: String(task.createdAtMs),
    attempts: Number(task.history.at(-1)?.attempt ?? 0),
    status: task.history.at(-1),
    history: task.history,
  });

  const handlers: Record<FakeMethod, FakeHandler> = {
    SubmitTask(call, callback) {
      const request = call.request;
      if (!request.type) return callback(fail(grpc.status.INVALID_ARGUMENT, 'type is required'));
      try {
        JSON.parse(String(request.payload));
      } catch {
        return callback(fail(grpc.status.INVALID_ARGUMENT, 'payload is not valid JSON'));
      }
      const maxAttempts = Number(request.max_attempts);
      if (maxAttempts < 0 || maxAttempts > 5) return callback(fail(grpc.status.INVALID_ARGUMENT, 'max_attempts must be between 0 and 5'));
      const key = request._idempotency_key === 'idempotency_key' ? String(request.idempotency_key) : undefined;
      const existing = key === undefined ? undefined : idempotency.get(key);
      if (existing) return callback(null, { task_id: existing, state: tasks.get(existing)?.history.at(-1)?.state, duplicate: true });
      const taskId = `task-${nextId++}`;
      if (key !== undefined) idempotency.set(key, taskId);
      const task: FakeTask = {
        taskId,
        type: String(request.type),
        payload: String(request.payload),
        priority: String(request.priority),
        metadata: request.metadata as Record<string, string>,
        maxAttempts,
        createdAtMs: Date.now(),
        history: [],
      };
      tasks.set(taskId, task);
      advance(taskId, 'QUEUED', { stage: 'gateway' });
      callback(null, { task_id: taskId, state: 'QUEUED', duplicate: false });
      if (options.autoComplete) complete(task);
    },
    GetTask(call, callback) {
      const task = tasks.get(String(call.request.task_id));
      if (!task) return callback(fail(grpc.status.NOT_FOUND, `task ${String(call.request.task_id)} not found`));
      callback(null, toWireTask(task));
    },
    GetResult(call, callback) {
      const task = tasks.get(String(call.request.task_id));
      if (!task?.result) return callback(fail(grpc.status.NOT_FOUND, `no result for task ${String(call.request.task_id)}`));
      callback(null, task.result);
    },
    CancelTask(call, callback) {
      const task = tasks.get(String(call.request.task_id));
      if (!task) return callback(fail(grpc.status.NOT_FOUND, `task ${String(call.request.task_id)} not found`));
      const state = String(task.history.at(-1)?.state);
      if (TERMINAL.has(state)) return callback(fail(grpc.status.FAILED_PRECONDITION, `task ${task.taskId} already finished (${state})`));
      advance(task.taskId, 'CANCELLED', { stage: 'gateway', message: 'cancelled by request' });
      callback(null, { task_id: task.taskId, state: 'CANCELLED' });
    },
    StreamStatus(call) {
      const taskId = String(call.request.task_id);
      const task = tasks.get(taskId);
      if (!task) {
        call.emit('error', fail(grpc.status.NOT_FOUND, `task ${taskId} not found`));
        return;
      }
      let ended = false;
      // How the call finished, recorded once: ended by us, or cancelled by the client first.
      let finished: 'ended' | 'cancelled' | undefined;
      const finish = (how: 'ended' | 'cancelled') => {
        if (finished) return false;
        finished = how;
        streamEnds.push(how);
        return true;
      };
      const send = (update: Wire) => {
        if (ended) return;
        call.write(update);
        if (TERMINAL.has(String(update.state))) {
          ended = true;
          unsubscribe();
          const end = () => {
            if (finish('ended')) call.end();
          };
          if (options.streamEndDelayMs) setTimeout(end, options.streamEndDelayMs);
          else end();
        }
      };
      const own = listeners.get(taskId) ?? new Set();
      listeners.set(taskId, own);
      const unsubscribe = () => own.delete(send);
      call.on('cancelled', () => {
        unsubscribe();
        finish('cancelled');
      });
      const initial = hasAfterSeq(call.request)
        ? task.history.filter((update) => Number(update.seq) > Number(call.request.after_seq))
        : task.history.slice(-1);
      own.add(send);
      for (const update of initial) send(update);
    },
  };

  const server = new grpc.Server();
  const implementation = Object.fromEntries(
    (Object.keys(handlers) as FakeMethod[]).map((method) => [
      method,
      (call: AnyCall, callback: grpc.sendUnaryData<Wire>) => {
        calls.push({ method, request: call.request, metadata: call.metadata.getMap() as Record<string, string> });
        (options.overrides?.[method] ?? handlers[method])(call, callback);
      },
    ]),
  );
  server.addService(Service.service, implementation as unknown as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${options.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return {
    address: `127.0.0.1:${port}`,
    port,
    tasks,
    calls,
    streamEnds,
    advance,
    stop: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
}
