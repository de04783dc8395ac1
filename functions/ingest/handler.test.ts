import { describe, expect, it, vi } from 'vitest';
import { EVENT_TYPES, SUBJECTS, type DeadLetterData, type StoredStatus, type TaskEnvelope } from '../../shared/contract';
import { EVENT_IDS } from '../../shared/emit';
import { DependencyUnavailableError, ValidationError } from '../../shared/errors';
import { createEvent, type WireEvent } from '../../shared/events';
import { createLogger } from '../../shared/logger';
import type { Publisher } from '../../shared/ports';
import type { HandlerContext } from '../../shared/runtime/function-app';
import { createPayloadValidator } from '../../shared/task-types';
import { describeSent, lastTransition, type Sent } from '../../test/helpers/steps';
import type { EnrichFn } from './enricher-client';
import { createHandler, type IngestDeps } from './handler';

const NOW = 1_700_000_000_000;

function fakePublisher(options: { failOn?: string } = {}): Publisher & { sent: Sent[] } {
  const sent: Sent[] = [];
  return {
    sent,
    async publish(subject, event) {
      if (options.failOn === subject) throw new DependencyUnavailableError(`could not publish to ${subject}`);
      sent.push({ subject, event });
    },
  };
}

function envelope(overrides: Partial<TaskEnvelope> = {}): TaskEnvelope {
  return {
    taskId: 't-1',
    type: 'hash',
    payload: JSON.stringify({ data: 'abc' }),
    priority: 'high',
    metadata: { region: 'eu-west' },
    maxAttempts: 5,
    createdAtMs: NOW - 10,
    notBeforeMs: 0,
    tenant: 'acme',
    ...overrides,
  };
}

function submitted(data: unknown, taskId = 't-1'): WireEvent {
  return createEvent({ id: EVENT_IDS.submitted(taskId), component: 'gateway', type: EVENT_TYPES.submitted, taskId, data, timeMs: NOW });
}

function ctx(attempt = 1): HandlerContext {
  return { logger: createLogger('test', 'silent'), attempt, maxDeliver: 5 };
}

function setup(overrides: Partial<IngestDeps> = {}) {
  const publisher = fakePublisher();
  const enrich = vi.fn<EnrichFn>(async (input) => ({ region: input.metadata.region ?? 'none', tier: 'standard' }));
  const readStatus = vi.fn(async (_taskId: string): Promise<StoredStatus | undefined> => undefined);
  const deps: IngestDeps = {
    publisher,
    status: { read: readStatus },
    validatePayload: createPayloadValidator(),
    enrich,
    enricherTimeoutMs: 1_000,
    now: () => NOW,
    ...overrides,
  };
  return { handler: createHandler(deps), publisher: deps.publisher as typeof publisher, enrich, readStatus, deps };
}

describe('ingest handler', () => {
  it('accepts only submitted events', () => {
    expect(setup().handler.acceptedTypes).toEqual([EVENT_TYPES.submitted]);
  });

  it('a valid task is validated, enriched and published on tasks.schedule with its enrichment', async () => {
    const { handler, publisher, enrich } = setup();
    await handler.handle(submitted(envelope()), ctx());

    expect(describeSent(publisher.sent)).toEqual([
      'status VALIDATED,ENRICHED audit accepted',
      `${SUBJECTS.schedule} ${EVENT_TYPES.accepted}`,
    ]);
    expect(enrich).toHaveBeenCalledOnce();
    expect(enrich.mock.calls[0]![0]).toEqual({ taskId: 't-1', type: 'hash', metadata: { region: 'eu-west' } });
    const accepted = publisher.sent.at(-1)!.event;
    expect(accepted.id).toBe(EVENT_IDS.accepted('t-1'));
    expect(accepted.subject).toBe('t-1');
    expect(accepted.source).toBe('/taskmanager/ingest');
    expect(accepted.data).toEqual({ ...envelope(), enrichment: { region: 'eu-west', tier: 'standard' } });
  });

  it('an unknown type is rejected for good: dead letter, audit, then REJECTED, and no error', async () => {
    const { handler, publisher, enrich } = setup();
    const event = submitted(envelope({ type: 'nope' }));
    await handler.handle(event, ctx(3));

    expect(describeSent(publisher.sent)).toEqual([
      `${SUBJECTS.deadletter} ${EVENT_TYPES.deadlettered}`,
      'status REJECTED audit rejected',
    ]);
    const dead = publisher.sent[0]!.event.data as DeadLetterData;
    expect(dead).toMatchObject({ taskId: 't-1', stage: 'ingest', attempts: 3, event });
    expect(dead.reason).toContain('unknown task type "nope"');
    expect(dead.lastError).toBe(dead.reason);
    const status = lastTransition(publisher.sent[1]!.event);
    expect(status.message).toBe(dead.reason);
    expect(enrich).not.toHaveBeenCalled();
  });

  it('a payload that breaks its schema is rejected with the schema problem as the reason', async () => {
    const { handler, publisher } = setup();
    await handler.handle(submitted(envelope({ type: 'sleep', payload: '{"ms":"soon"}' })), ctx());

    const status = lastTransition(publisher.sent.find((s) => s.subject === SUBJECTS.status)!.event);
    expect(status.state).toBe('REJECTED');
    expect(status.message).toMatch(/schema of "sleep".*\/ms must be integer/);
    expect(publisher.sent.some((s) => s.subject === SUBJECTS.schedule)).toBe(false);
  });

  it('a redelivered rejection re-sends the same event ids, so JetStream drops the repeats', async () => {
    const { handler, publisher } = setup();
    const event = submitted(envelope({ type: 'nope' }));
    await handler.handle(event, ctx(1));
    const first = publisher.sent.map((s) => s.event.id);
    publisher.sent.length = 0;
    await handler.handle(event, ctx(2));
    expect(publisher.sent.map((s) => s.event.id)).toEqual(first);
  });

  it('a cancelled task is skipped: only an audit record, nothing scheduled, even when its enrichment (made beside the status read) fails', async () => {
    const cancelled: StoredStatus = {
      taskId: 't-1', seq: 2, state: 'CANCELLED', stage: 'gateway', attempt: 0, message: '', progress: 0, updatedAtMs: NOW,
    };
    const { handler, publisher } = setup({
      status: { read: async () => cancelled },
      enrich: async () => {
        throw new DependencyUnavailableError('enricher answered 503');
      },
    });
    await handler.handle(submitted(envelope()), ctx());
    expect(describeSent(publisher.sent)).toEqual(['audit skipped.cancelled']);
  });

  it('a cancelled task with a payload that breaks its schema is skipped, not rejected, and not enriched', async () => {
    const cancelled: StoredStatus = {
      taskId: 't-1', seq: 2, state: 'CANCELLED', stage: 'gateway', attempt: 0, message: '', progress: 0, updatedAtMs: NOW,
    };
    const { handler, publisher, enrich } = setup({ status: { read: async () => cancelled } });
    await handler.handle(submitted(envelope({ type: 'no-such-type' })), ctx());
    expect(describeSent(publisher.sent)).toEqual(['audit skipped.cancelled']);
    expect(enrich).not.toHaveBeenCalled();
  });

  it('an enricher failure is retryable and nothing is published', async () => {
    const { handler, publisher } = setup({
      enrich: async () => {
        throw new DependencyUnavailableError('enricher answered 503');
      },
    });
    await expect(handler.handle(submitted(envelope()), ctx())).rejects.toBeInstanceOf(DependencyUnavailableError);
    expect(publisher.sent).toEqual([]);
  });

  it('an unexpected enricher error is still reported as retryable', async () => {
    const { handler } = setup({
      enrich: async () => {
        throw new TypeError('boom');
      },
    });
    const error = await handler.handle(submitted(envelope()), ctx()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as Error).message).toContain('boom');
  });

  it('an enricher that does not answer in time is aborted and the delivery retried', async () => {
    let signal: AbortSignal | undefined;
    const { handler, publisher } = setup({
      enricherTimeoutMs: 20,
      // Ignores its signal on purpose: the handler must give up anyway.
      enrich: (_input, s) => {
        signal = s;
        return new Promise(() => undefined);
      },
    });
    const error = await handler.handle(submitted(envelope()), ctx()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as Error).message).toContain('did not answer within 20 ms');
    expect(signal?.aborted).toBe(true);
    expect(publisher.sent.some((s) => s.subject === SUBJECTS.schedule)).toBe(false);
  });

  it.each([
    ['data is not an object', 'not an envelope', 'data'],
    ['the task id is missing', { ...envelope(), taskId: undefined }, 'data.taskId'],
    ['the priority is unknown', { ...envelope(), priority: 'urgent' }, 'data.priority'],
    ['the payload is not a string', { ...envelope(), payload: { data: 'x' } }, 'data.payload'],
  ])('a malformed envelope (%s) is a ValidationError naming the field, and nothing is published', async (_name, data, field) => {
    const { handler, publisher, readStatus } = setup();
    const error = await handler.handle(submitted(data), ctx()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
    expect((error as Error).message).toContain(field);
    expect(publisher.sent).toEqual([]);
    expect(readStatus).not.toHaveBeenCalled();
  });

  it('an envelope for another task than the event subject is refused', async () => {
    const { handler, publisher } = setup();
    const error = await handler.handle(submitted(envelope({ taskId: 't-2' }), 't-1'), ctx()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(/subject "t-1" does not match data.taskId "t-2"/);
    expect(publisher.sent).toEqual([]);
  });

  it('Redis being down while reading the status is retryable, and nothing is published', async () => {
    const { handler, publisher } = setup({
      status: {
        read: async () => {
          throw new DependencyUnavailableError('redis unavailable while reading the status of t-1: Connection is closed.');
        },
      },
    });
    await expect(handler.handle(submitted(envelope()), ctx())).rejects.toBeInstanceOf(DependencyUnavailableError);
    expect(publisher.sent).toEqual([]);
  });

  it('NATS refusing the accepted event fails the delivery so it is retried', async () => {
    const publisher = fakePublisher({ failOn: SUBJECTS.schedule });
    const { handler } = setup({ publisher });
    await expect(handler.handle(submitted(envelope()), ctx())).rejects.toBeInstanceOf(DependencyUnavailableError);
  });
});
