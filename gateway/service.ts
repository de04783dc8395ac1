// The five RPCs of taskmanager.v1.TaskManager over injected dependencies (the task, status and
// result stores and the cancel notices of shared/ports.ts, the JetStream publisher, the status
// hub, clock, id generator). Transport-free: server.ts adapts it to grpc-js
// and errors.ts maps what it throws to status codes.
//
// SubmitTask, the one hot write path, is in submit-task.ts; the other RPCs are here, each a
// module function over the deps (and the emitter) the service holds.
//
// Every call comes with the caller's tenant (its API key's, docs/security.md). A task belongs to
// the tenant that submitted it: for any other tenant it does not exist (the same NOT_FOUND as an
// unknown id, so ids reveal nothing), and idempotency keys are scoped per tenant.
import { toEnvelope } from '../shared/task-record';
import type { SubmitMetrics } from '../shared/task-metrics';
import { isTerminal, type TaskStateName } from '../shared/contract';
import { createEmitter, type Emitter } from '../shared/emit';
import { NotFoundError, describeError } from '../shared/errors';
import type { Logger } from '../shared/logger';
import type { CancelNotices, Publisher, ResultReader, StatusStore, TaskStore } from '../shared/ports';
import type { DeadLetterIndex } from '../shared/dead-letters';
import type { AuditTrail } from '../shared/task-audit';
import type { TaskIndex } from '../shared/task-index';
import type { TaskTypeSpec } from '../shared/task-types';
import { SpanKind, withSpan } from '../shared/tracing';
import { DEFAULT_TENANT } from './auth';
import type { BacklogGuard } from './backlog';
import { FailedPreconditionError } from './errors';
import { listDeadLetters } from './list-dead-letters';
import { listAuditEvents } from './list-audit-events';
import { getQueueStats, pauseQueue, resumeQueue, type QueueAdmin } from './queue-admin';
import { listTasks } from './list-tasks';
import { replayDeadLetters } from './replay-dead-letters';
import { toProtoTask, toStatusMessage } from './to-proto';

import type {
  ListDeadLettersRequest,
  ListDeadLettersResponse,
  ReplayDeadLettersRequest,
  ReplayDeadLettersResponse,
  ListAuditEventsRequest,
  ListAuditEventsResponse,
  QueueRequest,
  QueueResponse,
  QueueStats,
  ListTasksRequest,
  ListTasksResponse,
  ListTaskTypesResponse,
  ProtoTaskType,
  CancelTaskResponse,
  StreamStatusRequest,
  SubmitTaskRequest,
  SubmitTaskResponse,
  Task,
  TaskIdRequest,
  TaskResult,
  TaskStatusUpdate,
} from './proto';
import type { StatusHub } from './status-hub';
import { runStatusStream } from './status-stream';
import { STAGE, submitTask } from './submit-task';
import { orThrow, validateAfterSeq, validateTaskId } from './validation';

/** Who is calling: the tenant of its API key (DEFAULT_TENANT while authentication is off). */
export type Caller = Readonly<{ tenant: string }>;

export type ServiceLimits = {
  maxPayloadBytes: number;
  /** Attempt limit per known task type (validation.ts). */
  typeAttempts?: ReadonlyMap<string, number>;
  /** NATS max_payload: the published task event must fit. */
  maxEventBytes: number;
  idempotencyTtlSeconds: number;
  /** A submission older than this that never got its PubAck is taken as dead, not in flight. */
  publishTimeoutMs: number;
};

export type ConnectionCheck = { natsUp(): boolean; redisUp(): boolean };

/** Where the gateway reads and writes tasks (shared/redis-stores.ts in production). */
export type GatewayStores = {
  tasks: TaskStore;
  /** ListTasks' indexes (shared/task-index.ts). */
  index: TaskIndex;
  /** Dead letters per tenant (shared/dead-letters.ts). */
  deadLetters: DeadLetterIndex;
  /** Each task's audit trail (shared/task-audit.ts). */
  audit: AuditTrail;
  status: StatusStore;
  results: ResultReader;
  cancels: CancelNotices;
};

export type ServiceDeps = {
  stores: GatewayStores;
  publisher: Publisher;
  hub: Pick<StatusHub, 'subscribe'>;
  connections: ConnectionCheck;
  limits: ServiceLimits;
  /** What ListTaskTypes answers (the built-ins and the registry file's). */
  taskTypes: readonly TaskTypeSpec[];
  now: () => number;
  newId: () => string;
  logger: Logger;
  /** Refuses new work while the TASKS stream is near full (backlog.ts); absent = the publish decides. */
  backlog?: BacklogGuard;
  /** Queue stats and pauses (queue-admin.ts). */
  queues: Omit<QueueAdmin, 'logger'>;
  /** Tasks submitted; absent when metrics are off (shared/metrics.ts). */
  metrics?: SubmitMetrics | undefined;
};

/** What the RPCs that write read: the deps and the service's event emitter (built once). */
export type ServiceContext = Readonly<{ deps: ServiceDeps; emitter: Emitter }>;

export type StatusWriter = { write(update: TaskStatusUpdate): void; readonly signal: AbortSignal };

export type TaskManagerService = {
  submitTask(request: SubmitTaskRequest, caller: Caller): Promise<SubmitTaskResponse>;
  getTask(request: TaskIdRequest, caller: Caller): Promise<Task>;
  getResult(request: TaskIdRequest, caller: Caller): Promise<TaskResult>;
  cancelTask(request: TaskIdRequest, caller: Caller): Promise<CancelTaskResponse>;
  streamStatus(request: StreamStatusRequest, caller: Caller, writer: StatusWriter): Promise<void>;
  listTaskTypes(request: unknown, caller: Caller): Promise<ListTaskTypesResponse>;
  listTasks(request: ListTasksRequest, caller: Caller): Promise<ListTasksResponse>;
  listDeadLetters(request: ListDeadLettersRequest, caller: Caller): Promise<ListDeadLettersResponse>;
  replayDeadLetters(request: ReplayDeadLettersRequest, caller: Caller): Promise<ReplayDeadLettersResponse>;
  listAuditEvents(request: ListAuditEventsRequest, caller: Caller): Promise<ListAuditEventsResponse>;
  getQueueStats(request: unknown, caller: Caller): Promise<QueueStats>;
  pauseQueue(request: QueueRequest, caller: Caller): Promise<QueueResponse>;
  resumeQueue(request: QueueRequest, caller: Caller): Promise<QueueResponse>;
};

/** A task type as ListTaskTypes shows it: what a client needs to submit one, not where its
 * handler lives (an HTTP handler's URL is the deployment's business). */
export function toProtoTaskType(spec: TaskTypeSpec): ProtoTaskType {
  return {
    name: spec.type,
    description: spec.description,
    schema: JSON.stringify(spec.payloadSchema),
    timeout_ms: spec.defaultTimeoutMs,
    max_attempts: spec.maxAttempts,
    retry_delays_ms: [...(spec.retryDelaysMs ?? [])],
    handler: spec.handler.kind,
  };
}

type StoredResult = {
  state?: string;
  output?: unknown;
  error?: unknown;
  attempts?: number;
  startedAtMs?: number;
  finishedAtMs?: number;
};

/** Output is JSON text in the proto; a result-store that kept it parsed still reads back. */
function toText(value: unknown): string {
  if (typeof value === 'string') return value;
  return value === undefined || value === null ? '' : JSON.stringify(value);
}

export function createTaskManagerService(deps: ServiceDeps): TaskManagerService {
  // Built once per service and handed to each RPC: the RPCs are module functions, so each can be
  // read on its own, and a call builds nothing but what its RPC needs.
  const context: ServiceContext = { deps, emitter: createEmitter(deps.publisher, STAGE, deps.now) };
  const admin: QueueAdmin = { ...deps.queues, logger: deps.logger };
  return {
    submitTask: (request, caller) =>
      withSpan('SubmitTask', SpanKind.SERVER, { 'rpc.method': 'SubmitTask', 'taskmanager.task.type': String(request.type) }, () =>
        submitTask(context, request, caller),
      ),
    getTask: (request, caller) => getTask(deps.stores, request, caller),
    getResult: (request, caller) => getResult(deps.stores, request, caller),
    cancelTask: (request, caller) => cancelTask(context, request, caller),
    streamStatus: (request, caller, writer) => streamStatus(deps, request, caller, writer),
    // The same for every tenant: task types are the deployment's, not a tenant's.
    listTaskTypes: async () => ({ task_types: deps.taskTypes.map(toProtoTaskType) }),
    listTasks: (request, { tenant }) => listTasks(deps.stores.index, request, tenant),
    listDeadLetters: (request, { tenant }) => listDeadLetters(deps.stores.deadLetters, request, tenant),
    replayDeadLetters: (request, caller) => replayDeadLetters(context, request, caller),
    listAuditEvents: (request, { tenant }) =>
      listAuditEvents(deps.stores.audit, (taskId) => assertVisibleTo(deps.stores.tasks, taskId, tenant), request),
    getQueueStats: (_request, { tenant }) => getQueueStats(admin, tenant),
    pauseQueue: (request, { tenant }) => pauseQueue(admin, request, tenant),
    resumeQueue: (request, { tenant }) => resumeQueue(admin, request, tenant),
  };
}

/** Another tenant's task gets the very same answer as a task that does not exist. */
function notFound(taskId: string): NotFoundError {
  return new NotFoundError(`task ${taskId} not found`);
}

function isOwnedBy(fields: Record<string, string | null | undefined>, tenant: string): boolean {
  return Boolean(fields.task_id) && (fields.tenant ?? DEFAULT_TENANT) === tenant;
}

async function readTaskFields(tasks: TaskStore, taskId: string, tenant: string): Promise<Record<string, string>> {
  const fields = await tasks.read(taskId);
  if (!isOwnedBy(fields, tenant)) throw notFound(taskId);
  return fields;
}

/** Whether the caller may see the task, without reading its payload. */
async function isVisibleTo(tasks: TaskStore, taskId: string, tenant: string): Promise<boolean> {
  const owner = await tasks.readOwner(taskId);
  return isOwnedBy({ task_id: owner.taskId, tenant: owner.tenant }, tenant);
}

async function assertVisibleTo(tasks: TaskStore, taskId: string, tenant: string): Promise<void> {
  if (!(await isVisibleTo(tasks, taskId, tenant))) throw notFound(taskId);
}

async function getTask({ tasks, status: statuses }: GatewayStores, request: TaskIdRequest, { tenant }: Caller): Promise<Task> {
  const taskId = orThrow(validateTaskId(request.task_id));
  const fields = await readTaskFields(tasks, taskId, tenant);
  const [status, history] = await Promise.all([statuses.read(taskId), statuses.history(taskId)]);
  return toProtoTask(fields, status, history);
}

async function getResult({ tasks, status: statuses, results }: GatewayStores, request: TaskIdRequest, { tenant }: Caller): Promise<TaskResult> {
  const taskId = orThrow(validateTaskId(request.task_id));
  // Ownership first: a result is never read for a task the caller cannot see.
  await assertVisibleTo(tasks, taskId, tenant);
  const json = await results.read(taskId);
  if (!json) {
    const status = await statuses.read(taskId);
    throw new NotFoundError(`task ${taskId} has no result yet (state ${status?.state ?? 'QUEUED'})`);
  }
  const stored = JSON.parse(json) as StoredResult;
  return {
    task_id: taskId,
    state: (stored.state as TaskStateName | undefined) ?? 'TASK_STATE_UNSPECIFIED',
    output: toText(stored.output),
    error: toText(stored.error),
    attempts: Number(stored.attempts ?? 0),
    started_at_ms: Number(stored.startedAtMs ?? 0),
    finished_at_ms: Number(stored.finishedAtMs ?? 0),
  };
}

/** Only with metrics on: the task's type, priority and age, for `taskmanager.tasks.finished`. */
async function countCancelled(deps: ServiceDeps, taskId: string): Promise<void> {
  const fields = await deps.stores.tasks.read(taskId).catch(() => undefined);
  if (!fields?.task_id) return;
  const task = toEnvelope(fields);
  deps.metrics?.finished(task, 'cancelled', (deps.now() - task.createdAtMs) / 1000);
}

async function cancelTask({ deps, emitter }: ServiceContext, request: TaskIdRequest, { tenant }: Caller): Promise<CancelTaskResponse> {
  const { stores, logger } = deps;
  const taskId = orThrow(validateTaskId(request.task_id));
  await assertVisibleTo(stores.tasks, taskId, tenant);
  const current = await stores.status.read(taskId);
  if (current && isTerminal(current.state)) {
    throw new FailedPreconditionError(`task ${taskId} is already ${current.state} and cannot be cancelled`);
  }
  const attempt = current?.attempt ?? 0;
  const seq = await stores.status.apply(taskId, STAGE, [
    { state: 'CANCELLED', attempt, message: 'cancelled by client', progress: current?.progress ?? 0, updatedAtMs: deps.now() },
  ]);
  if (seq === 0) {
    // It reached a terminal state between the read and the write.
    const now = await stores.status.read(taskId);
    throw new FailedPreconditionError(`task ${taskId} is already ${now?.state ?? 'finished'} and cannot be cancelled`);
  }
  // A worker running it aborts on this message; the other stages skip cancelled tasks.
  await stores.cancels.announce(taskId);
  // The cancellation is already final; a lost audit record must not turn it into an error.
  await emitter.audit(taskId, 'task.cancelled', { attempt, detail: 'cancelled by client' }).catch((error: unknown) => {
    logger.warn({ taskId, err: describeError(error) }, 'could not publish the cancel audit event');
  });
  if (deps.metrics) await countCancelled(deps, taskId);
  logger.info({ taskId }, 'task cancelled');
  return { task_id: taskId, state: 'CANCELLED' };
}

async function streamStatus(
  deps: Pick<ServiceDeps, 'stores' | 'hub'>,
  request: StreamStatusRequest,
  { tenant }: Caller,
  writer: StatusWriter,
): Promise<void> {
  const { tasks, status } = deps.stores;
  const taskId = orThrow(validateTaskId(request.task_id));
  const afterSeq = orThrow(validateAfterSeq(request.after_seq));
  await runStatusStream(
    deps.hub,
    {
      taskExists: (id) => isVisibleTo(tasks, id, tenant),
      readStatus: (id) => status.read(id),
      readHistory: (id, after) => status.history(id, after),
    },
    { taskId, afterSeq },
    { send: (update) => writer.write(toStatusMessage(update)), signal: writer.signal },
  );
}
