// Stored records as the proto's messages: a status as TaskStatusUpdate, a task as Task (GetTask
// with its history, ListTasks without).
import type { Priority, StoredStatus } from '../shared/contract';
import { toEnvelope } from '../shared/task-record';
import type { ProtoPriority, Task, TaskStatusUpdate } from './proto';

export const TO_PROTO_PRIORITY: Record<Priority, ProtoPriority> = {
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

/** The task hash's fields, its current status and the history to show (empty for a listing). */
export function toProtoTask(fields: Record<string, string>, status: StoredStatus | undefined, history: readonly StoredStatus[]): Task {
  const envelope = toEnvelope(fields);
  return {
    task_id: envelope.taskId,
    type: envelope.type,
    payload: envelope.payload,
    priority: TO_PROTO_PRIORITY[envelope.priority],
    metadata: envelope.metadata,
    created_at_ms: envelope.createdAtMs,
    attempts: status?.attempt ?? 0,
    ...(status ? { status: toStatusMessage(status) } : {}),
    history: history.map(toStatusMessage),
  };
}
