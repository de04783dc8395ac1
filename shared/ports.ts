// The narrow interfaces through which a stage's handler reaches storage and messaging. Handlers
// import these types only; the implementations (shared/redis-stores.ts and the publisher of
// shared/nats.ts, the worker's attempt claims, the scheduler's delayed store) own their clients
// and type their own failures: an unreachable Redis or NATS is a DependencyUnavailableError
// (retried by the source), a full stream a BacklogFullError. So no handler imports ioredis or the
// NATS client, or wraps a client error itself; eslint.config.js keeps it that way.
import type { AuditData, DeadLetterData, StatusTransition, StoredStatus } from './contract';
import type { WireEvent } from './events';
import type { NewTaskInput, NewTaskOutcome } from './submit-task-script';

export type Publisher = {
  /** Publishes a structured CloudEvent and resolves once JetStream has stored it (PubAck), under
   * the Nats-Msg-Id `toMsgId(event)`: the event id, plus a re-drive mark when it carries one. */
  publish(subject: string, event: WireEvent): Promise<void>;
};

/** A task's status in Redis (`task_status:<id>`, its history and channel). */
export type StatusStore = {
  read(taskId: string): Promise<StoredStatus | undefined>;
  /** Applies a step's transitions in order, each only when newer than the status it finds
   * (status never moves backwards). The last new sequence number, or 0 when none was newer. */
  apply(taskId: string, stage: string, transitions: readonly StatusTransition[]): Promise<number>;
  /** History entries with seq > afterSeq, in order (a client that resumes). */
  history(taskId: string, afterSeq?: number): Promise<StoredStatus[]>;
};

/** Tasks as the gateway stores them: `task:<id>` (shared/task-record.ts) and the idempotency key. */
export type TaskStore = {
  /** Stores a new task with its QUEUED status, unless its idempotency key is known: one script. */
  create(input: NewTaskInput): Promise<NewTaskOutcome>;
  /** The task's stored fields; an empty record when there is no such task. */
  read(taskId: string): Promise<Record<string, string>>;
  /** The fields that say whose the task is, without reading its payload (null when absent). */
  readOwner(taskId: string): Promise<{ taskId: string | null; tenant: string | null }>;
  /** Marks the task's `submitted` event as out (a retried idempotency key then publishes nothing). */
  markPublished(taskId: string, atMs: number): Promise<void>;
  /** Deletes a task whose publish failed: its fields, status, history, index entry and key. */
  remove(taskId: string, tenant: string, idempotencyKey: string | undefined): Promise<void>;
};

/** Tells the workers that a task was cancelled (the `task_cancel` channel), so a run aborts. */
export type CancelNotices = {
  announce(taskId: string): Promise<void>;
};

/** A task's stored result as JSON (`task_result:<id>`), or undefined when there is none yet. */
export type ResultReader = {
  read(taskId: string): Promise<string | undefined>;
};

/** The audit records: the capped global list and each task's trail, each record id once. */
export type AuditLog = {
  /** True when appended, false when a record with this id was appended before. */
  appendOnce(id: string, entry: AuditData): Promise<boolean>;
};

/** Task results (`task_result:<id>`). */
export type ResultStore = {
  /** Stores the result of `attempt` unless one of a later attempt is stored; true when stored. */
  store(taskId: string, attempt: number, json: string): Promise<boolean>;
};

export type AttemptOutcome = 'ended' | 'retrying';
/** What a delivery finds for its attempt: the task ended, this attempt already failed, a live run
 * holds the task (perhaps as another attempt), or nothing: it may run. */
export type ClaimState = 'running' | AttemptOutcome | undefined;

/** Which delivery of a `scheduled` event runs, and as which attempt (functions/worker/attempt-claims.ts). */
export type AttemptClaims = {
  /** Starts run `token` as `attempt` for `leaseMs`; false when the task ended, this attempt
   * already failed, or another run holds the task. */
  take(eventId: string, attempt: number, token: string): Promise<boolean>;
  /** Extends the lease while run `token` still holds the task. */
  renew(eventId: string, attempt: number, token: string): Promise<void>;
  /** Records what the attempt came to (its outcome is published by then) and ends the hold. */
  settle(eventId: string, attempt: number, outcome: AttemptOutcome, token: string): Promise<void>;
  /** Ends the hold of a run that failed before publishing an outcome: it may run again. */
  release(eventId: string, attempt: number, token: string): Promise<void>;
  read(eventId: string, attempt: number): Promise<ClaimState>;
  /** How long a hold lasts without renewal. */
  readonly leaseMs: number;
};

/** Tasks due later (functions/scheduler/delayed-store.ts): the `scheduled` event to publish when
 * due, and the claims of the promoters that publish them. */
export type DelayedStore = {
  /** Stores the event and queues the id at `dueAtMs`; repeating it changes nothing. */
  add(taskId: string, dueAtMs: number, eventJson: string): Promise<void>;
  /** Claims up to `limit` due ids (and ids whose lease expired) until now + leaseMs. */
  claimDue(nowMs: number, leaseMs: number, limit: number): Promise<string[]>;
  /** The stored event JSON, or null when it is gone (already promoted). */
  load(taskId: string): Promise<string | null>;
  /** Promotion done: drops the lease and the stored event. */
  complete(taskId: string): Promise<void>;
  /** Promotion failed: ends the lease now, so the next round claims the id again. */
  release(taskId: string): Promise<void>;
};

/** Dead letters, stored once per id under their task's tenant (shared/dead-letters.ts). */
export type DeadLetterStore = {
  /** True when stored, false for an id already stored (a redelivered dead-letter event). */
  store(id: string, letter: DeadLetterData): Promise<boolean>;
};
