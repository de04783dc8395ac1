import { describe, expect, it, vi } from 'vitest';
import { EVENT_TYPES, SUBJECTS, type StoredStatus, type TaskEnvelope, type TaskStateName } from '../../shared/contract';
import { EVENT_IDS } from '../../shared/emit';
import { DependencyUnavailableError, ValidationError } from '../../shared/errors';
import { createEvent, type WireEvent } from '../../shared/events';
import { createLogger } from '../../shared/logger';
import type { DelayedStore, Publisher } from '../../shared/ports';
import type { HandlerContext } from '../../shared/runtime/function-app';
import { describeSent, lastTransition } from '../../test/helpers/steps';
import { createHandler, type SchedulerDeps } from './handler';

const NOW = 1_700_000_000_000;
type Sent = { subject: string; event: WireEvent };

function envelope(overrides: Partial<TaskEnvelope> = {}): TaskEnvelope {
  return {
    taskId: 't-1',
    type: 'echo',
    payload: '{}',
    priority: 'medium',
    metadata: {},
    maxAttempts: 5,
    createdAtMs: NOW - 100,
    notBeforeMs: 0,
    tenant: 'acme',
    enrichment: { region: 'eu-west' },
    ...overrides,
  };
}

const accepted = (data: unknown, taskId = 't-1'): WireEvent =>
  createEvent({ id: EVENT_IDS.accepted(taskId), component: 'ingest', type: EVENT_TYPES.accepted, taskId, data, timeMs: NOW });

const ctx: HandlerContext = { logger: createLogger('test', 'silent'), attempt: 1, maxDeliver: 5 };

function status(state: TaskStateName): StoredStatus {
  return { taskId: 't-1', seq: 3, state, stage: 'x', attempt: 1, message: '', progress: 0, updatedAtMs: NOW };
}

function setup(overrides: Partial<SchedulerDeps> = {}) {
  const sent: Sent[] = [];
  const publisher: Publisher = {
    async publish(subject, event) {
      sent.push({ subject, event });
    },
  };
  const added: { taskId: string; dueAtMs: number; json: string }[] = [];
  const store: DelayedStore = {
    add: vi.fn(async (taskId: string, dueAtMs: number, json: string) => {
      added.push({ taskId, dueAtMs, json });
    }),
    claimDue: vi.fn(),
    load: vi.fn(),
    complete: vi.fn(),
    release: vi.fn(),
  };
  const deps: SchedulerDeps = { publisher, status: { read: async () => undefined }, store, now: () => NOW, ...overrides };
  return { handler: createHandler(deps), sent, added };
}

const summary = (sent: Sent[]) => describeSent(sent).map((line) => line.replace(` ${EVENT_TYPES.scheduled}`, ''));

describe('scheduler handler', () => {
  it('accepts only accepted events', () => {
    expect(setup().handler.acceptedTypes).toEqual([EVENT_TYPES.accepted]);
  });

  it.each([
    ['high', SUBJECTS.workerHigh],
    ['medium', SUBJECTS.workerMedium],
    ['low', SUBJECTS.workerLow],
  ] as const)('a %s-priority task due now is published on %s', async (priority, subject) => {
    const { handler, sent, added } = setup();
    await handler.handle(accepted(envelope({ priority })), ctx);
    expect(summary(sent)).toEqual(['status SCHEDULED audit scheduled', subject]);
    const scheduled = sent[1]!.event;
    expect(scheduled).toMatchObject({ id: EVENT_IDS.scheduled('t-1'), type: EVENT_TYPES.scheduled, subject: 't-1' });
    expect(scheduled.data).toEqual(envelope({ priority }));
    expect(added).toEqual([]);
  });

  it('a task due exactly now is not delayed', async () => {
    const { handler, sent, added } = setup();
    await handler.handle(accepted(envelope({ notBeforeMs: NOW })), ctx);
    expect(summary(sent)).toContain(SUBJECTS.workerMedium);
    expect(added).toEqual([]);
  });

  it('a task due later is stored with its due time, not published, and reported as delayed', async () => {
    const { handler, sent, added } = setup();
    const due = NOW + 60_000;
    await handler.handle(accepted(envelope({ notBeforeMs: due, priority: 'low' })), ctx);

    expect(summary(sent)).toEqual(['status SCHEDULED audit delayed']);
    expect(lastTransition(sent[0]!.event).message).toBe(`delayed until ${new Date(due).toISOString()}`);
    expect(added).toHaveLength(1);
    expect(added[0]).toMatchObject({ taskId: 't-1', dueAtMs: due });
    const stored = JSON.parse(added[0]!.json) as WireEvent;
    expect(stored).toMatchObject({ id: EVENT_IDS.scheduled('t-1'), type: EVENT_TYPES.scheduled, subject: 't-1' });
    expect(stored.data).toEqual(envelope({ notBeforeMs: due, priority: 'low' }));
  });

  it.each(['CANCELLED', 'SUCCEEDED', 'FAILED', 'REJECTED', 'RUNNING', 'RETRYING'] as const)(
    'a task that is %s is skipped with only an audit record',
    async (state) => {
      const { handler, sent, added } = setup({ status: { read: async () => status(state) } });
      await handler.handle(accepted(envelope({ notBeforeMs: NOW + 1_000 })), ctx);
      await handler.handle(accepted(envelope()), ctx);
      expect(summary(sent)).toEqual([`audit skipped.${state.toLowerCase()}`, `audit skipped.${state.toLowerCase()}`]);
      expect(added).toEqual([]);
    },
  );

  it('a task that is only ENRICHED or already SCHEDULED (a redelivery) is scheduled', async () => {
    for (const state of ['ENRICHED', 'SCHEDULED'] as const) {
      const { handler, sent } = setup({ status: { read: async () => status(state) } });
      await handler.handle(accepted(envelope()), ctx);
      expect(summary(sent)).toContain(SUBJECTS.workerMedium);
    }
  });

  it('a malformed envelope is a ValidationError naming the field, and changes nothing', async () => {
    const { handler, sent, added } = setup();
    const error = await handler.handle(accepted({ ...envelope(), notBeforeMs: 'tomorrow' }), ctx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toContain('data.notBeforeMs');
    expect(sent).toEqual([]);
    expect(added).toEqual([]);
  });

  it('Redis failing while storing a delayed task is retryable and reports nothing', async () => {
    const failing = setup({
      store: {
        add: async () => {
          throw new DependencyUnavailableError('redis unavailable while storing delayed task t-1: Connection is closed.');
        },
        claimDue: vi.fn(),
        load: vi.fn(),
        complete: vi.fn(),
        release: vi.fn(),
      },
    });
    await expect(failing.handler.handle(accepted(envelope({ notBeforeMs: NOW + 5 })), ctx)).rejects.toBeInstanceOf(
      DependencyUnavailableError,
    );
    expect(failing.sent).toEqual([]);
  });

  it('Redis failing while reading the status is retryable', async () => {
    const { handler, sent } = setup({
      status: {
        read: async () => {
          throw new DependencyUnavailableError('redis unavailable while reading the status of t-1: ECONNREFUSED');
        },
      },
    });
    await expect(handler.handle(accepted(envelope()), ctx)).rejects.toBeInstanceOf(DependencyUnavailableError);
    expect(sent).toEqual([]);
  });
});
