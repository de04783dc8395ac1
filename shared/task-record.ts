// The task hash `task:<id>` (DESIGN §4): one field per envelope field, metadata as JSON. The
// gateway writes it at submission; the gateway (GetTask) and the reconciler read it back.
import { KEYS, type TaskEnvelope } from './contract';
import type { Redis } from './redis';

/** Tasks submitted while authentication was off, and records written before tenants existed. */
export const DEFAULT_TENANT = 'default';

/** The task hash's fields, as HSET arguments. */
export function toTaskFields(envelope: TaskEnvelope): string[] {
  return [
    'task_id', envelope.taskId,
    'type', envelope.type,
    'payload', envelope.payload,
    'priority', envelope.priority,
    'metadata', JSON.stringify(envelope.metadata),
    'created_at_ms', String(envelope.createdAtMs),
    'max_attempts', String(envelope.maxAttempts),
    'not_before_ms', String(envelope.notBeforeMs),
    'tenant', envelope.tenant,
  ];
}

export function toEnvelope(fields: Record<string, string>): TaskEnvelope {
  const priority = fields.priority === 'high' || fields.priority === 'low' ? fields.priority : 'medium';
  return {
    taskId: fields.task_id ?? '',
    type: fields.type ?? '',
    payload: fields.payload ?? '',
    priority,
    metadata: parseMetadata(fields.metadata),
    maxAttempts: Number(fields.max_attempts ?? 0),
    createdAtMs: Number(fields.created_at_ms ?? 0),
    notBeforeMs: Number(fields.not_before_ms ?? 0),
    tenant: fields.tenant ?? DEFAULT_TENANT,
  };
}

function parseMetadata(json: string | undefined): Record<string, string> {
  if (!json) return {};
  try {
    const value = JSON.parse(json) as unknown;
    return value !== null && typeof value === 'object' ? (value as Record<string, string>) : {};
  } catch {
    return {};
  }
}

export type TaskRecord = {
  envelope: TaskEnvelope;
  /** When the gateway saw the PubAck of its `submitted` event; undefined while it has not (a
   * submission that died before it was confirmed, or whose mark failed). */
  publishedAtMs: number | undefined;
};

/** The task as submitted, or undefined when its record is gone. */
export async function readTaskRecord(redis: Redis, taskId: string): Promise<TaskRecord | undefined> {
  const fields = await redis.hgetall(KEYS.task(taskId));
  if (!fields.task_id) return undefined;
  const published = Number(fields.published_at_ms);
  return { envelope: toEnvelope(fields), publishedAtMs: Number.isFinite(published) && published > 0 ? published : undefined };
}
