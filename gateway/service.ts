// The five RPCs of taskmanager.v1.TaskManager over injected dependencies (Redis, the JetStream
// publisher, the status hub, clock, id generator). Transport-free: server.ts adapts it to grpc-js
// and errors.ts maps what it throws to status codes.
//
// SubmitTask writes the task and its QUEUED status in one Redis script, then publishes
// `submitted` on tasks.ingest and answers only after the PubAck, so an id in hand means the task
// is durably queued. When the publish fails, what was written is deleted again (UNAVAILABLE /
// RESOURCE_EXHAUSTED with nothing half-written). A repeated idempotency key returns the existing
// task without publishing again; a task whose submission died before its PubAck (gateway killed)
// is published on the retry instead of being left stranded. docs/decisions/0003-gateway-validation.md.
//
// Every call comes with the caller's tenant (its API key's, docs/security.md). A task belongs to
// the tenant that submitted it: for any other tenant it does not exist (the same NOT_FOUND as an
// unknown id, so ids reveal nothing), and idempotency keys are scoped per tenant.
import {
  EVENT_TYPES,
  isTerminal,
  KEYS,
  SUBJECTS,
  type Priority,
  type StoredStatus,
  type TaskEnvelope,
  type TaskStateName,
} from '../shared/contract';
import { createEmitter, EVENT_IDS } from '../shared/emit';
import { DependencyUnavailableError, NotFoundError, ValidationError, describeError } from '../shared/errors';
import { createEvent } from '../shared/events';
import type { Logger } from '../shared/logger';
import type { Publisher } from '../shared/nats';
import { toChannel, type Redis } from '../shared/redis';
import { applyStatus, readHistory, readStatus } from '../shared/status';
import { storeNewTask } from '../shared/submit-task-script';
import { toEnvelope } from '../shared/task-record';
import { SpanKind, withSpan } from '../shared/tracing';
import { DEFAULT_TENANT } from './auth';
import type { BacklogGuard } from './backlog';
import { FailedPreconditionError } from './errors';
import type {
  CancelTaskResponse,
  ProtoPriority,
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
import { orThrow, validateAfterSeq, validateSubmit, validateTaskId, type NormalizedSubmit } from './validation';

export const STAGE = 'gateway';

/** Who is calling: the tenant of its API key (DEFAULT_TENANT while authentication is off). */
export type Caller = Readonly<{ tenant: string }>;
/** Room for the CloudEvent attributes the publisher adds (traceparent, tracestate). */
const EVENT_HEADROOM_BYTES = 1024;

export type ServiceLimits = {
  maxPayloadBytes: number;
  /** NATS max_payload: the published task event must fit. */
  maxEventBytes: number;
  idempotencyTtlSeconds: number;
  /** A submission older than this that never got its PubAck is taken as dead, not in flight. */
  publishTimeoutMs: number;
};

export type ConnectionCheck = { natsUp(): boolean; redisUp(): boolean };

export type ServiceDeps = {
  redis: Redis;
  publisher: Publisher;
  hub: Pick<StatusHub, 'subscribe'>;
  connections: ConnectionCheck;
  limits: ServiceLimits;
  now: () => number;
  newId: () => string;
  logger: Logger;
  /** Refuses new work while the TASKS stream is near full (backlog.ts); absent = the publish decides. */
  backlog?: BacklogGuard;
};

export type StatusWriter = { write(update: TaskStatusUpdate): void; readonly signal: AbortSignal };

export type TaskManagerService = {
  submitTask(request: SubmitTaskRequest, caller: Caller): Promise<SubmitTaskResponse>;
  getTask(request: TaskIdRequest, caller: Caller): Promise<Task>;
  getResult(request: TaskIdRequest, caller: Caller): Promise<TaskResult>;
  cancelTask(request: TaskIdRequest, caller: Caller): Promise<CancelTaskResponse>;
  streamStatus(request: StreamStatusRequest, caller: Caller, writer: StatusWriter): Promise<void>;
};

const TO_PROTO_PRIORITY: Record<Priority, ProtoPriority> = {
  high: 'PRIORITY_HIGH',
  medium: 'PRIORITY_MEDIUM',
  low: 'PRIORITY_LOW',
};

export function toStatusMessage(status: StoredStatus): TaskStatusUpdate {
  return {
    task_id: status.taskId,
    state: status.state,
    stage: status.stage,
    attempt: status.attempt,
    message: status.message,
    progress: status.progress,
    updated_at_ms: status.updatedAtMs,
    seq: status.seq,
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
  const { redis, limits, logger } = deps;
  const emitter = createEmitter(deps.publisher, STAGE, deps.now);

  const assertConnected = () => {
    if (!deps.connections.redisUp()) throw new DependencyUnavailableError('redis is not connected');
    if (!deps.connections.natsUp()) throw new DependencyUnavailableError('nats is not connected');
  };

  const toEnvelopeOf = (input: NormalizedSubmit, taskId: string, createdAtMs: number, tenant: string): TaskEnvelope => ({
    taskId,
    type: input.type,
    payload: input.payload,
    priority: input.priority,
    metadata: input.metadata,
    maxAttempts: input.maxAttempts,
    createdAtMs,
    notBeforeMs: input.delayMs > 0 ? createdAtMs + input.delayMs : 0,
    tenant,
  });

  const assertEventFits = (envelope: TaskEnvelope) => {
    const event = createEvent({ id: EVENT_IDS.submitted(envelope.taskId), component: STAGE, type: EVENT_TYPES.submitted, taskId: envelope.taskId, data: envelope });
    const bytes = Buffer.byteLength(JSON.stringify(event), 'utf8') + EVENT_HEADROOM_BYTES;
    if (bytes > limits.maxEventBytes) {
      throw new ValidationError(
        `payload: the task event would be ${bytes} bytes, over the message limit of ${limits.maxEventBytes} bytes ` +
          '(payload and metadata are JSON-escaped inside the event)',
        { field: 'payload' },
      );
    }
  };

  const queued = (envelope: TaskEnvelope) =>
    applyStatus(redis, {
      taskId: envelope.taskId,
      state: 'QUEUED',
      stage: STAGE,
      attempt: 0,
      message: '',
      progress: 0,
      updatedAtMs: envelope.createdAtMs,
    });

  const publishSubmitted = (envelope: TaskEnvelope) =>
    emitter.task(SUBJECTS.ingest, EVENT_TYPES.submitted, EVENT_IDS.submitted(envelope.taskId), envelope.taskId, envelope);

  /** Best effort: a missing marker only means a retried key re-publishes (deduplicated by event id). */
  const markPublished = async (taskId: string) => {
    await redis.hset(KEYS.task(taskId), 'published_at_ms', String(deps.now())).catch((error: unknown) => {
      logger.warn({ taskId, err: describeError(error) }, 'could not mark the task as published');
    });
  };

  const rollBack = async (taskId: string, tenant: string, idempotencyKey: string | undefined) => {
    const keys = [KEYS.task(taskId), KEYS.status(taskId), KEYS.history(taskId)];
    if (idempotencyKey !== undefined) keys.push(KEYS.idempotency(tenant, idempotencyKey));
    await Promise.all([redis.del(...keys), redis.zrem(KEYS.activeTasks, taskId)]).catch((error: unknown) => {
      logger.error({ taskId, err: describeError(error) }, 'could not remove a task whose publish failed');
    });
  };

  /** A known idempotency key: the existing task, published now if its first submission died. */
  const answerDuplicate = async (taskId: string, idempotencyKey: string): Promise<SubmitTaskResponse> => {
    const [fields, status] = await Promise.all([redis.hgetall(KEYS.task(taskId)), readStatus(redis, taskId)]);
    if (!fields.task_id) {
      throw new FailedPreconditionError(`idempotency_key: ${idempotencyKey} refers to task ${taskId}, which no longer exists`);
    }
    const state: TaskStateName = status?.state ?? 'QUEUED';
    const pastQueued = status !== undefined && status.state !== 'QUEUED';
    if (fields.published_at_ms || pastQueued) return { task_id: taskId, state, duplicate: true };
    const envelope = toEnvelope(fields);
    if (deps.now() - envelope.createdAtMs < limits.publishTimeoutMs * 2) {
      // The first submission may still be waiting for its PubAck, and may yet roll back.
      throw new DependencyUnavailableError(
        `idempotency_key: the submission of task ${taskId} with this key is still in progress; retry shortly`,
      );
    }
    logger.warn({ taskId }, 'publishing a task whose first submission never completed');
    await queued(envelope);
    await publishSubmitted(envelope);
    await markPublished(taskId);
    return { task_id: taskId, state: 'QUEUED', duplicate: true };
  };

  const submit = async (request: SubmitTaskRequest, { tenant }: Caller): Promise<SubmitTaskResponse> => {
    const input = orThrow(validateSubmit(request, limits));
    assertConnected();
    await deps.backlog?.assertRoom();
    const envelope = toEnvelopeOf(input, deps.newId(), deps.now(), tenant);
    assertEventFits(envelope);
    const taskId = envelope.taskId;
    const key = input.idempotencyKey;
    // The task, its idempotency key and its QUEUED status in one script: one round trip.
    const stored = await storeNewTask(redis, {
      envelope,
      idempotencyKey: key,
      idempotencyTtlSeconds: limits.idempotencyTtlSeconds,
      stage: STAGE,
    });
    if (!stored.created && key !== undefined) return answerDuplicate(stored.taskId, key);
    try {
      await publishSubmitted(envelope);
    } catch (error) {
      await rollBack(taskId, tenant, key);
      throw error;
    }
    await markPublished(taskId);
    logger.info({ taskId, tenant, type: envelope.type, priority: envelope.priority }, 'task submitted');
    return { task_id: taskId, state: 'QUEUED', duplicate: false };
  };

  /** Another tenant's task gets the very same answer as a task that does not exist. */
  const notFound = (taskId: string) => new NotFoundError(`task ${taskId} not found`);
  const isOwnedBy = (fields: Record<string, string | null | undefined>, tenant: string) =>
    Boolean(fields.task_id) && (fields.tenant ?? DEFAULT_TENANT) === tenant;

  const readTaskFields = async (taskId: string, tenant: string) => {
    const fields = await redis.hgetall(KEYS.task(taskId));
    if (!isOwnedBy(fields, tenant)) throw notFound(taskId);
    return fields;
  };
  /** Whether the caller may see the task, without reading its payload. */
  const isVisibleTo = async (taskId: string, tenant: string) => {
    const [id, owner] = await redis.hmget(KEYS.task(taskId), 'task_id', 'tenant');
    return isOwnedBy({ task_id: id, tenant: owner }, tenant);
  };
  const assertVisibleTo = async (taskId: string, tenant: string) => {
    if (!(await isVisibleTo(taskId, tenant))) throw notFound(taskId);
  };

  return {
    submitTask: (request, caller) =>
      withSpan('SubmitTask', SpanKind.SERVER, { 'rpc.method': 'SubmitTask', 'taskmanager.task.type': String(request.type) }, () =>
        submit(request, caller),
      ),

    async getTask(request, { tenant }) {
      const taskId = orThrow(validateTaskId(request.task_id));
      const fields = await readTaskFields(taskId, tenant);
      const [status, history] = await Promise.all([readStatus(redis, taskId), readHistory(redis, taskId)]);
      const envelope = toEnvelope(fields);
      return {
        task_id: taskId,
        type: envelope.type,
        payload: envelope.payload,
        priority: TO_PROTO_PRIORITY[envelope.priority],
        metadata: envelope.metadata,
        created_at_ms: envelope.createdAtMs,
        attempts: status?.attempt ?? 0,
        ...(status ? { status: toStatusMessage(status) } : {}),
        history: history.map(toStatusMessage),
      };
    },

    async getResult(request, { tenant }) {
      const taskId = orThrow(validateTaskId(request.task_id));
      // Ownership first: a result is never read for a task the caller cannot see.
      await assertVisibleTo(taskId, tenant);
      const json = await redis.hget(KEYS.result(taskId), 'json');
      if (!json) {
        const status = await readStatus(redis, taskId);
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
    },

    async cancelTask(request, { tenant }) {
      const taskId = orThrow(validateTaskId(request.task_id));
      await assertVisibleTo(taskId, tenant);
      const current = await readStatus(redis, taskId);
      if (current && isTerminal(current.state)) {
        throw new FailedPreconditionError(`task ${taskId} is already ${current.state} and cannot be cancelled`);
      }
      const attempt = current?.attempt ?? 0;
      const seq = await applyStatus(redis, {
        taskId,
        state: 'CANCELLED',
        stage: STAGE,
        attempt,
        message: 'cancelled by client',
        progress: current?.progress ?? 0,
        updatedAtMs: deps.now(),
      });
      if (seq === 0) {
        // It reached a terminal state between the read and the write.
        const now = await readStatus(redis, taskId);
        throw new FailedPreconditionError(`task ${taskId} is already ${now?.state ?? 'finished'} and cannot be cancelled`);
      }
      // A worker running it aborts on this message; the other stages skip cancelled tasks.
      await redis.publish(toChannel(redis, KEYS.cancelChannel), taskId);
      // The cancellation is already final; a lost audit record must not turn it into an error.
      await emitter.audit(taskId, 'task.cancelled', { attempt, detail: 'cancelled by client' }).catch((error: unknown) => {
        logger.warn({ taskId, err: describeError(error) }, 'could not publish the cancel audit event');
      });
      logger.info({ taskId }, 'task cancelled');
      return { task_id: taskId, state: 'CANCELLED' };
    },

    async streamStatus(request, { tenant }, writer) {
      const taskId = orThrow(validateTaskId(request.task_id));
      const afterSeq = orThrow(validateAfterSeq(request.after_seq));
      await runStatusStream(
        deps.hub,
        {
          taskExists: (id) => isVisibleTo(id, tenant),
          readStatus: (id) => readStatus(redis, id),
          readHistory: (id, after) => readHistory(redis, id, after),
        },
        { taskId, afterSeq },
        { send: (update) => writer.write(toStatusMessage(update)), signal: writer.signal },
      );
    },
  };
}
