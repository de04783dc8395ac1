import { describe, expect, it } from 'vitest';
import type { TaskEnvelope } from './contract';
import { toTaskEnvelope } from './envelope';

const envelope: TaskEnvelope = {
  taskId: '0f8fad5b-d9cb-469f-a165-70867728950e', type: 'echo', payload: '{}', priority: 'low', metadata: { region: 'eu-west' },
  maxAttempts: 5, createdAtMs: 1_700_000_000_000, notBeforeMs: 0, tenant: 'default',
};
const fieldOf = (data: Record<string, unknown>) => {
  try {
    toTaskEnvelope({ data });
    return 'valid';
  } catch (error) {
    return (error as { field?: string }).field;
  }
};

describe('toTaskEnvelope', () => {
  it('takes a task envelope as the gateway writes it', () => {
    expect(toTaskEnvelope({ data: envelope, subject: envelope.taskId })).toEqual(envelope);
  });

  it('refuses task ids that could not sit in a NATS header or a Redis key unharmed', () => {
    for (const taskId of ['', 'a\r\nb', 'a b', 'é', '\u0000', 'x'.repeat(257)]) expect(fieldOf({ ...envelope, taskId })).toBe('data.taskId');
    expect(fieldOf({ ...envelope, taskId: 'x'.repeat(256) })).toBe('valid');
  });

  it('refuses metadata values that are not strings (the enricher would refuse them, and ingest retry)', () => {
    expect(fieldOf({ ...envelope, metadata: { region: 5 } })).toBe('data.metadata');
    expect(fieldOf({ ...envelope, metadata: [] })).toBe('data.metadata');
  });

  it('refuses times a Date cannot hold', () => {
    for (const ms of [-1, 1.5, 8.64e15 + 1, 1e308]) {
      expect(fieldOf({ ...envelope, notBeforeMs: ms })).toBe('data.notBeforeMs');
      expect(fieldOf({ ...envelope, createdAtMs: ms })).toBe('data.createdAtMs');
    }
    expect(fieldOf({ ...envelope, notBeforeMs: 8.64e15 })).toBe('valid');
  });
});
