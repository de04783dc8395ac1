// What every stage publishes besides its main output: status changes, audit records and
// dead letters, each as a CloudEvent with a deterministic id (so a retried step re-publishes
// the same event and JetStream drops the duplicate).
import {
  EVENT_TYPES,
  SUBJECTS,
  type AuditData,
  type DeadLetterData,
  type StatusUpdate,
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

export type Emitter = {
  status(taskId: string, state: TaskStateName, details?: { attempt?: number; message?: string; progress?: number }): Promise<void>;
  audit(taskId: string, action: string, details?: { attempt?: number; detail?: string }): Promise<void>;
  deadLetter(input: Omit<DeadLetterData, 'stage' | 'atMs'>): Promise<void>;
  /** Publishes a task event (submitted/accepted/scheduled/finished) on `subject`. */
  task<T>(subject: string, type: string, id: string, taskId: string, data: T): Promise<void>;
  /** An emitter whose events carry the re-drive mark of `cause` (the event being handled). */
  causedBy(cause: object): Emitter;
};

export function createEmitter(publisher: Publisher, component: string, now: () => number = Date.now, redrive?: string): Emitter {
  const send = <T>(subject: string, type: string, id: string, taskId: string, data: T) => {
    const event = createEvent({ id, component, type, taskId, data, timeMs: now() }) as WireEvent;
    return publisher.publish(subject, redrive === undefined ? event : { ...event, redrive });
  };
  return {
    causedBy(cause) {
      const mark = toRedriveMark(cause);
      return mark === redrive ? this : createEmitter(publisher, component, now, mark);
    },
    async status(taskId, state, details = {}) {
      const update: StatusUpdate = {
        taskId,
        state,
        stage: component,
        attempt: details.attempt ?? 0,
        message: details.message ?? '',
        progress: details.progress ?? 0,
        updatedAtMs: now(),
      };
      const id = EVENT_IDS.status(taskId, state, update.attempt, update.progress);
      await send(SUBJECTS.status, EVENT_TYPES.statusChanged, id, taskId, update);
    },
    async audit(taskId, action, details = {}) {
      const attempt = details.attempt ?? 0;
      const data: AuditData = { taskId, stage: component, action, attempt, detail: details.detail ?? '', atMs: now() };
      await send(SUBJECTS.audit, EVENT_TYPES.auditRecorded, EVENT_IDS.audit(taskId, component, action, attempt), taskId, data);
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
