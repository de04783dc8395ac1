import { describe, expect, it } from 'vitest';
import type { TaskEnvelope } from '../shared/contract';
import { createEvent } from '../shared/events';
import { EVENT_IDS, type Emitter } from '../shared/emit';
import { EVENT_TYPES } from '../shared/contract';
import { DependencyUnavailableError } from '../shared/errors';
import { createLogger } from '../shared/logger';
import type { StatusStore, TaskStore } from '../shared/ports';
import { FailedPreconditionError } from './errors';
import type { ServiceContext, ServiceDeps } from './service';
import { findEventOverflow, submitChecked, SubmissionInProgressError } from './submit-task';
import type { NormalizedSubmit } from './validation';

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

/**
 * submitChecked's sequence over in-memory stores that keep Redis's semantics for what it uses
 * (create is atomic: key known → nothing written; remove takes the key with the task), with
 * gates to interleave two submissions exactly where a race can fall.
 */
function createHarness() {
  const tasks = new Map<string, Record<string, string>>();
  const keys = new Map<string, string>();
  const published: string[] = [];
  /** Publishes wait on these, in call order; each test settles them. */
  const publishGates: Array<{ resolve(): void; reject(error: Error): void }> = [];
  /** When set, the next read of a task waits for it. */
  let readGate: Promise<void> | undefined;
  let next = 0;

  const taskStore: TaskStore = {
    async create({ envelope, idempotencyKey }) {
      const known = idempotencyKey === undefined ? undefined : keys.get(idempotencyKey);
      if (known !== undefined) return { taskId: known, created: false, seq: 0 };
      if (idempotencyKey !== undefined) keys.set(idempotencyKey, envelope.taskId);
      tasks.set(envelope.taskId, { task_id: envelope.taskId, created_at_ms: String(envelope.createdAtMs) });
      return { taskId: envelope.taskId, created: true, seq: 1 };
    },
    async read(taskId) {
      const gate = readGate;
      readGate = undefined;
      await gate;
      return { ...tasks.get(taskId) };
    },
    readOwner: async () => ({ taskId: null, tenant: null }),
    async markPublished(taskId, atMs) {
      const fields = tasks.get(taskId);
      if (fields) fields.published_at_ms = String(atMs);
    },
    async remove(taskId, _tenant, idempotencyKey) {
      tasks.delete(taskId);
      if (idempotencyKey !== undefined && keys.get(idempotencyKey) === taskId) keys.delete(idempotencyKey);
    },
  };
  const statusStore = { read: async () => undefined } as unknown as StatusStore;
  const emitter = {
    task: (_subject: string, _type: string, _id: string, taskId: string) =>
      new Promise<void>((resolve, reject) => publishGates.push({ resolve: () => (published.push(taskId), resolve()), reject })),
  } as unknown as Emitter;
  const deps = {
    stores: { tasks: taskStore, status: statusStore },
    connections: { natsUp: () => true, redisUp: () => true },
    limits: { maxPayloadBytes: 1024, maxEventBytes: 64 * 1024, idempotencyTtlSeconds: 60, publishTimeoutMs: 5_000 },
    now: () => 1_000,
    newId: () => `task-${++next}`,
    logger: createLogger('submit-task-test', 'silent'),
  } as unknown as ServiceDeps;
  const ctx: ServiceContext = { deps, emitter };
  const input: NormalizedSubmit = { type: 'echo', payload: '{}', priority: 'medium', metadata: {}, maxAttempts: 3, delayMs: 0, idempotencyKey: 'order-7' };
  const submit = () => submitChecked(ctx, input, { tenant: 'default' });
  /** Resolves once `count` publishes are waiting. */
  const publishesWaiting = async (count: number) => {
    for (let turns = 0; publishGates.length < count; turns++) {
      if (turns === 100) throw new Error(`${publishGates.length} publishes waiting, expected ${count}`);
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  const holdNextRead = () => {
    let open!: () => void;
    readGate = new Promise<void>((resolve) => (open = resolve));
    return open;
  };
  return { tasks, keys, published, publishGates, submit, publishesWaiting, holdNextRead };
}

describe('submitChecked with a repeated idempotency key', () => {
  it('answers the first submission\'s task once it is published', async () => {
    const h = createHarness();
    const first = h.submit();
    await h.publishesWaiting(1);
    h.publishGates[0]!.resolve();
    expect(await first).toEqual({ task_id: 'task-1', state: 'QUEUED', duplicate: false });
    expect(await h.submit()).toEqual({ task_id: 'task-1', state: 'QUEUED', duplicate: true });
    expect(h.published).toEqual(['task-1']);
  });

  it('answers UNAVAILABLE (retry) while the first submission still waits for its PubAck', async () => {
    const h = createHarness();
    const first = h.submit();
    await h.publishesWaiting(1);
    const error = await h.submit().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SubmissionInProgressError);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    h.publishGates[0]!.resolve();
    await first;
  });

  it('submits afresh when the first submission rolls back between finding the key and reading its task', async () => {
    const h = createHarness();
    const first = h.submit();
    await h.publishesWaiting(1);
    // The retry finds the key (task-1), then waits to read task-1 while the first publish fails.
    const openRead = h.holdNextRead();
    const retry = h.submit();
    await new Promise((resolve) => setImmediate(resolve));
    h.publishGates[0]!.reject(new DependencyUnavailableError('nats: publish timed out'));
    await expect(first).rejects.toThrow('publish timed out');
    expect(h.tasks.has('task-1')).toBe(false);
    expect(h.keys.has('order-7')).toBe(false);
    openRead();
    await h.publishesWaiting(2);
    h.publishGates[1]!.resolve();
    expect(await retry).toEqual({ task_id: 'task-2', state: 'QUEUED', duplicate: false });
    expect(h.keys.get('order-7')).toBe('task-2');
    expect(h.published).toEqual(['task-2']);
  });

  it('answers FAILED_PRECONDITION when the key outlived its task, and writes nothing', async () => {
    const h = createHarness();
    h.keys.set('order-7', 'task-gone');
    const error = await h.submit().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FailedPreconditionError);
    expect((error as Error).message).toBe('idempotency_key: order-7 refers to task task-gone, which no longer exists');
    expect([...h.tasks.keys()]).toEqual([]);
    expect(h.keys.get('order-7')).toBe('task-gone');
    expect(h.publishGates).toHaveLength(0);
  });
});
