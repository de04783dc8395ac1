import { describe, expect, it } from 'vitest';
import type { TaskEnvelope } from '../shared/contract';
import { createEvent } from '../shared/events';
import { EVENT_IDS } from '../shared/emit';
import { EVENT_TYPES } from '../shared/contract';
import { findEventOverflow } from './submit-task';

function envelope(payload: string, metadata: Record<string, string> = {}): TaskEnvelope {
  return { taskId: '7d0c4c1e-2c53-4a53-9a55-0f0c1c1b9e11', type: 'echo', payload, priority: 'medium', metadata, maxAttempts: 3, createdAtMs: 1, notBeforeMs: 0, tenant: 'default' };
}

/** The event's bytes as the publisher will send them, plus the 1 KiB kept for trace context. */
const measured = (task: TaskEnvelope) =>
  Buffer.byteLength(JSON.stringify(createEvent({ id: EVENT_IDS.submitted(task.taskId), component: 'gateway', type: EVENT_TYPES.submitted, taskId: task.taskId, data: task })), 'utf8') + 1024;

describe('findEventOverflow', () => {
  it('clears a task far below the limit', () => {
    expect(findEventOverflow(envelope(JSON.stringify({ text: 'hello' })), 64 * 1024)).toBeUndefined();
  });

  it('measures a task near the limit and names its size when the escaped event is over it', () => {
    // 3,000 control characters: 6 bytes each once JSON-escaped inside the event.
    const task = envelope(JSON.stringify('\u0001'.repeat(3_000)));
    const bytes = measured(task);
    expect(bytes).toBeGreaterThan(18_000);
    expect(findEventOverflow(task, bytes - 1)).toBe(bytes);
    expect(findEventOverflow(task, bytes)).toBeUndefined();
  });

  it('counts the metadata: a payload that fits alone is over the limit with large metadata', () => {
    const payload = JSON.stringify({ text: 'small' });
    const metadata = { note: '"'.repeat(4_000) };
    expect(findEventOverflow(envelope(payload), 8_192)).toBeUndefined();
    expect(findEventOverflow(envelope(payload, metadata), 8_192)).toBe(measured(envelope(payload, metadata)));
  });
});
