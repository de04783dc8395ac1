// SubmitTask (service.ts): one Redis script stores the task with its idempotency key and its
// QUEUED status (shared/submit-task-script.ts), then `submitted` goes out on tasks.ingest and the
// answer waits for the PubAck, so an id in hand means the task is durably queued. When the
// publish fails, what was written is deleted again (UNAVAILABLE / RESOURCE_EXHAUSTED with nothing
// half-written). A repeated idempotency key returns the existing task without publishing again;
// a task whose submission died before its PubAck (gateway killed) is published on the retry
// instead of being left stranded. A retry that found the key of a submission which then rolled
// back stores its task afresh. docs/decisions/0003-gateway-validation.md.
//
// Apart from the other RPCs because it is the gateway's one hot write path and has the most
// steps; the steps are module functions over one context built per service, so a call allocates
// nothing beyond what the steps themselves need.
import { EVENT_TYPES, SUBJECTS, type TaskEnvelope, type TaskStateName } from '../shared/contract';
import { EVENT_IDS } from '../shared/emit';
import { DependencyUnavailableError, ValidationError, describeError } from '../shared/errors';
import { createEvent } from '../shared/events';
import type { NewTaskOutcome } from '../shared/submit-task-script';
import { toEnvelope } from '../shared/task-record';
import { FailedPreconditionError } from './errors';
import type { SubmitTaskRequest, SubmitTaskResponse } from './proto';
import type { Caller, ServiceContext, ServiceDeps } from './service';
import { orThrow, validateSubmit, type NormalizedSubmit } from './validation';

/** A repeated idempotency key whose first submission is still waiting for its PubAck (and may yet
 * roll back): UNAVAILABLE to the client, which retries; a replay waits for it (replay-dead-letters.ts). */
export class SubmissionInProgressError extends DependencyUnavailableError {}

/** The stage name of what the gateway writes and publishes. */
export const STAGE = 'gateway';

/** Room for the CloudEvent attributes the publisher adds (traceparent, tracestate). */
const EVENT_HEADROOM_BYTES = 1024;
/** More than an event's attributes and the envelope's own fields take, headroom included. */
const EVENT_FIXED_BYTES = 4096;

export async function submitTask(ctx: ServiceContext, request: SubmitTaskRequest, caller: Caller): Promise<SubmitTaskResponse> {
  return submitChecked(ctx, orThrow(validateSubmit(request, ctx.deps.limits)), caller);
}

/** SubmitTask after validation; a replay (replay-dead-letters.ts) submits its task through it too. */
export async function submitChecked(ctx: ServiceContext, input: NormalizedSubmit, { tenant }: Caller): Promise<SubmitTaskResponse> {
  const { deps } = ctx;
  const { limits } = deps;
  assertConnected(deps);
  await deps.backlog?.assertRoom();
  const envelope = toEnvelopeOf(input, deps.newId(), deps.now(), tenant);
  assertEventFits(envelope, limits.maxEventBytes);
  const taskId = envelope.taskId;
  const key = input.idempotencyKey;
  const stored = await storeTask(ctx, envelope, key);
  if (!stored.created && key !== undefined) {
    const answer = await answerDuplicate(ctx, stored.taskId);
    if (answer) return answer;
    // The task the key named is gone. Either its submission rolled back (publish failed) after
    // our write found the key, taking the key with it, or the key outlived its task. Storing again
    // tells which: it succeeds in the first case, and this submission goes on as a new one.
    const again = await storeTask(ctx, envelope, key);
    if (!again.created) return answerVanished(ctx, stored.taskId, again.taskId, key);
  }
  try {
    await publishSubmitted(ctx, envelope);
  } catch (error) {
    await rollBack(ctx, taskId, tenant, key);
    throw error;
  }
  // Sent before the answer, not waited for: this gateway's later commands (a repeated key's
  // read) follow it on the same Redis connection, and a failure is only logged either way. The
  // answer comes a Redis round trip sooner.
  void markPublished(ctx, taskId);
  deps.metrics?.submitted(envelope);
  deps.logger.info({ taskId, tenant, type: envelope.type, priority: envelope.priority }, 'task submitted');
  return { task_id: taskId, state: 'QUEUED', duplicate: false };
}

function assertConnected(deps: Pick<ServiceDeps, 'connections'>): void {
  if (!deps.connections.redisUp()) throw new DependencyUnavailableError('redis is not connected');
  if (!deps.connections.natsUp()) throw new DependencyUnavailableError('nats is not connected');
}

function toEnvelopeOf(input: NormalizedSubmit, taskId: string, createdAtMs: number, tenant: string): TaskEnvelope {
  return {
    taskId,
    type: input.type,
    payload: input.payload,
    priority: input.priority,
    metadata: input.metadata,
    maxAttempts: input.maxAttempts,
    createdAtMs,
    notBeforeMs: input.delayMs > 0 ? createdAtMs + input.delayMs : 0,
    tenant,
  };
}

/**
 * The bytes of the task's event when they could exceed `maxEventBytes`, else undefined. Most
 * tasks are far below the limit: a bound that needs no serialising (JSON escapes one UTF-16 unit
 * into at most 6 bytes) clears them, and only the rest pay for building the event to measure it.
 */
export function findEventOverflow(envelope: TaskEnvelope, maxEventBytes: number): number | undefined {
  let units = envelope.payload.length + envelope.type.length + envelope.tenant.length;
  for (const [key, value] of Object.entries(envelope.metadata)) units += key.length + value.length;
  if (6 * units + EVENT_FIXED_BYTES <= maxEventBytes) return undefined;
  const event = createEvent({ id: EVENT_IDS.submitted(envelope.taskId), component: STAGE, type: EVENT_TYPES.submitted, taskId: envelope.taskId, data: envelope });
  const bytes = Buffer.byteLength(JSON.stringify(event), 'utf8') + EVENT_HEADROOM_BYTES;
  return bytes > maxEventBytes ? bytes : undefined;
}

function assertEventFits(envelope: TaskEnvelope, maxEventBytes: number): void {
  const bytes = findEventOverflow(envelope, maxEventBytes);
  if (bytes !== undefined) {
    throw new ValidationError(
      `payload: the task event would be ${bytes} bytes, over the message limit of ${maxEventBytes} bytes ` +
        '(payload and metadata are JSON-escaped inside the event)',
      { field: 'payload' },
    );
  }
}

/** The task with its QUEUED status, unless its idempotency key is known: one script. */
function storeTask({ deps }: ServiceContext, envelope: TaskEnvelope, idempotencyKey: string | undefined): Promise<NewTaskOutcome> {
  return deps.stores.tasks.create({ envelope, idempotencyKey, idempotencyTtlSeconds: deps.limits.idempotencyTtlSeconds, stage: STAGE });
}

function publishSubmitted(ctx: ServiceContext, envelope: TaskEnvelope): Promise<void> {
  return ctx.emitter.task(SUBJECTS.ingest, EVENT_TYPES.submitted, EVENT_IDS.submitted(envelope.taskId), envelope.taskId, envelope);
}

/** Best effort: a missing marker only means a retried key re-publishes (deduplicated by event id). */
async function markPublished({ deps }: ServiceContext, taskId: string): Promise<void> {
  await deps.stores.tasks.markPublished(taskId, deps.now()).catch((error: unknown) => {
    deps.logger.warn({ taskId, err: describeError(error) }, 'could not mark the task as published');
  });
}

async function rollBack({ deps }: ServiceContext, taskId: string, tenant: string, idempotencyKey: string | undefined): Promise<void> {
  await deps.stores.tasks.remove(taskId, tenant, idempotencyKey).catch((error: unknown) => {
    deps.logger.error({ taskId, err: describeError(error) }, 'could not remove a task whose publish failed');
  });
}

/** A known idempotency key: the existing task, published now if its first submission died;
 * undefined when the task is gone. */
async function answerDuplicate(ctx: ServiceContext, taskId: string): Promise<SubmitTaskResponse | undefined> {
  const { stores, limits, logger } = ctx.deps;
  const [fields, status] = await Promise.all([stores.tasks.read(taskId), stores.status.read(taskId)]);
  if (!fields.task_id) return undefined;
  const state: TaskStateName = status?.state ?? 'QUEUED';
  const pastQueued = status !== undefined && status.state !== 'QUEUED';
  if (fields.published_at_ms || pastQueued) return { task_id: taskId, state, duplicate: true };
  const envelope = toEnvelope(fields);
  if (ctx.deps.now() - envelope.createdAtMs < limits.publishTimeoutMs * 2) {
    // The first submission may still be waiting for its PubAck, and may yet roll back.
    throw new SubmissionInProgressError(`idempotency_key: the submission of task ${taskId} with this key is still in progress; retry shortly`);
  }
  logger.warn({ taskId }, 'publishing a task whose first submission never completed');
  // Written with the task today; a task stored by an older gateway (task first, status second)
  // may have none. Applying it leaves a status that is there as it is.
  await stores.status.apply(taskId, STAGE, [{ state: 'QUEUED', attempt: 0, message: '', progress: 0, updatedAtMs: envelope.createdAtMs }]);
  await publishSubmitted(ctx, envelope);
  await markPublished(ctx, taskId);
  return { task_id: taskId, state: 'QUEUED', duplicate: true };
}

/** The key's task was gone, and storing again found the key once more. */
async function answerVanished(ctx: ServiceContext, goneId: string, keyNowNames: string, idempotencyKey: string): Promise<SubmitTaskResponse> {
  if (keyNowNames === goneId) {
    // The key outlived its task (the task was deleted, the key's TTL had not run out).
    throw new FailedPreconditionError(`idempotency_key: ${idempotencyKey} refers to task ${goneId}, which no longer exists`);
  }
  // Another submission with the key stored a new task in between: that one is the answer.
  const answer = await answerDuplicate(ctx, keyNowNames);
  if (answer) return answer;
  throw new SubmissionInProgressError(`idempotency_key: the submission of a task with this key is still in progress; retry shortly`);
}
