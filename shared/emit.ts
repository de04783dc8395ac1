// What every stage publishes besides its main output: status changes, audit records and
// dead letters, each as a CloudEvent with a deterministic id (so a retried step re-publishes
// the same event and JetStream drops the duplicate).
import {
  EVENT_TYPES,
  SUBJECTS,
  type AuditData,
  type DeadLetterData,
  type StatusStep,
  type StatusTransition,
  type TaskEnvelope,
  type TaskStateName,
} from './contract';
import { createEvent, type WireEvent } from './events';
import type { Publisher } from './nats';

export const EVENT_IDS = {
  submitted: (taskId: string) => `${taskId}:submitted`,
  accepted: (taskId: string) => `${taskId}:accepted`,
  scheduled: (taskId: string) => `${taskId}:scheduled`,
  finished: (taskId: string, attempt: number) => `${taskId}:finished:${attempt}`,
  status: (taskId: string, state: TaskStateName, attempt: number, progress: number) =>
    `${taskId}:status:${state}:${attempt}:${progress}`,
  audit: (taskId: string, stage: string, action: string, attempt: number) => `${taskId}:audit:${stage}:${action}:${attempt}`,
  deadLetter: (taskId: string, stage: string) => `${taskId}:deadletter:${stage}`,
} as const;

/**
 * The re-drive mark (the `redrive` extension attribute, set by the reconciler) that an event
 * passes on to everything published while it is handled. A marked event goes out under the
 * Nats-Msg-Id `<id>:redrive:<n>` (toMsgId), so a re-driven chain is not dropped by JetStream's
 * duplicate window as a copy of the events it replaces; the stages absorb it by event id.
 */
export function toRedriveMark(event: object): string | undefined {
  const mark = (event as { redrive?: unknown }).redrive;
  return typeof mark === 'string' && /^\d{1,6}$/.test(mark) ? mark : undefined;
}

/** The Nats-Msg-Id an event is published under (JetStream drops a second one within its window). */
export function toMsgId(event: WireEvent): string {
  const mark = toRedriveMark(event);
  return mark === undefined ? event.id : `${event.id}:redrive:${mark}`;
}

/** A state a step moves its task to; attempt, message and progress default to 0, '' and 0. */
export type StepState = { state: TaskStateName; attempt?: number; message?: string; progress?: number };
export type AuditDetails = { attempt?: number; detail?: string };

export type StepInput = {
  component: string;
  taskId: string;
  /** In the order the notifier applies them. At least one. */
  states: readonly StepState[];
  /** The step's audit record, when it is worth one (a progress report is not). */
  audit?: { action: string } & AuditDetails;
  nowMs: number;
};

/** The audit record a stage writes for `action`. */
export function toAuditData(component: string, taskId: string, action: string, details: AuditDetails, nowMs: number): AuditData {
  return { taskId, stage: component, action, attempt: details.attempt ?? 0, detail: details.detail ?? '', atMs: nowMs };
}

/**
 * The one `status.changed` event of a stage step (docs/design.md §4): its transitions and its
 * audit record. Its id is the status id of its last transition, so a retried step re-publishes
 * the same event.
 */
export function createStepEvent(input: StepInput): WireEvent<StatusStep> {
  const { component, taskId, nowMs } = input;
  const transitions: StatusTransition[] = input.states.map((next) => ({
    state: next.state,
    attempt: next.attempt ?? 0,
    message: next.message ?? '',
    progress: next.progress ?? 0,
    updatedAtMs: nowMs,
  }));
  const last = transitions[transitions.length - 1];
  if (!last) throw new Error(`a status step of task ${taskId} needs at least one transition`);
  const data: StatusStep = { taskId, stage: component, transitions };
  if (input.audit) data.audit = toAuditData(component, taskId, input.audit.action, input.audit, nowMs);
  const id = EVENT_IDS.status(taskId, last.state, last.attempt, last.progress);
  return createEvent({ id, component, type: EVENT_TYPES.statusChanged, taskId, data, timeMs: nowMs });
}

export type Emitter = {
  /** One stage step as one status event: its transitions in order, and its audit record. */
  step(taskId: string, states: readonly StepState[], audit?: { action: string } & AuditDetails): Promise<void>;
  /** A step with one transition and no audit record (a progress report, a FAILED given up). */
  status(taskId: string, state: TaskStateName, details?: { attempt?: number; message?: string; progress?: number }): Promise<void>;
  /** A fact without a status change (a skip, a cancel, a final failure before its result). */
  audit(taskId: string, action: string, details?: AuditDetails): Promise<void>;
  deadLetter(input: Omit<DeadLetterData, 'stage' | 'atMs'>): Promise<void>;
  /** Publishes a task event (submitted/accepted/scheduled/finished) on `subject`. */
  task<T>(subject: string, type: string, id: string, taskId: string, data: T): Promise<void>;
  /** An emitter whose events carry the re-drive mark of `cause` (the event being handled). */
  causedBy(cause: object): Emitter;
};

export function createEmitter(publisher: Publisher, component: string, now: () => number = Date.now, redrive?: string): Emitter {
  const publish = (subject: string, event: WireEvent) => publisher.publish(subject, redrive === undefined ? event : { ...event, redrive });
  const send = <T>(subject: string, type: string, id: string, taskId: string, data: T) =>
    publish(subject, createEvent({ id, component, type, taskId, data, timeMs: now() }) as WireEvent);
  const step: Emitter['step'] = (taskId, states, audit) =>
    publish(SUBJECTS.status, createStepEvent({ component, taskId, states, ...(audit ? { audit } : {}), nowMs: now() }));
  return {
    causedBy(cause) {
      const mark = toRedriveMark(cause);
      return mark === redrive ? this : createEmitter(publisher, component, now, mark);
    },
    step,
    status: (taskId, state, details = {}) => step(taskId, [{ state, ...details }]),
    async audit(taskId, action, details = {}) {
      const data = toAuditData(component, taskId, action, details, now());
      await send(SUBJECTS.audit, EVENT_TYPES.auditRecorded, EVENT_IDS.audit(taskId, component, action, data.attempt), taskId, data);
    },
    async deadLetter(input) {
      const data: DeadLetterData = { ...input, stage: component, atMs: now() };
      await send(SUBJECTS.deadletter, EVENT_TYPES.deadlettered, EVENT_IDS.deadLetter(input.taskId, component), input.taskId, data);
    },
    task: send,
  };
}

/** Checks the shape of a task event's data. */
export function isTaskEnvelope(value: unknown): value is TaskEnvelope {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.taskId === 'string' &&
    typeof v.type === 'string' &&
    typeof v.payload === 'string' &&
    (v.priority === 'high' || v.priority === 'medium' || v.priority === 'low') &&
    typeof v.maxAttempts === 'number' &&
    typeof v.createdAtMs === 'number' &&
    typeof v.notBeforeMs === 'number' &&
    typeof v.tenant === 'string' &&
    v.metadata !== null &&
    typeof v.metadata === 'object'
  );
}
