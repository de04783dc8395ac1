import { describe, expect, it, vi } from 'vitest';
import { EVENT_TYPES, type StatusUpdate } from '../../shared/contract';
import { DependencyUnavailableError, ValidationError } from '../../shared/errors';
import { createEvent, type WireEvent } from '../../shared/events';
import { createLogger } from '../../shared/logger';
import type { HandlerContext } from '../../shared/runtime/function-app';
import { createHandler } from './handler';

const ctx: HandlerContext = { logger: createLogger('test', 'silent'), attempt: 1, maxDeliver: 5 };

const update: StatusUpdate = {
  taskId: 't-1',
  state: 'RUNNING',
  stage: 'worker',
  attempt: 2,
  message: 'running',
  progress: 40,
  updatedAtMs: 1_700_000_000_000,
};

function statusEvent(data: unknown, taskId = 't-1'): WireEvent {
  return createEvent({ id: 'e-1', component: 'worker', type: EVENT_TYPES.statusChanged, taskId, data });
}

describe('notifier handler', () => {
  it('accepts only status.changed events', () => {
    expect(createHandler({ applyStatus: vi.fn() }).acceptedTypes).toEqual([EVENT_TYPES.statusChanged]);
  });

  it('applies the update it carries, with only the known fields', async () => {
    const applyStatus = vi.fn(async () => 3);
    await createHandler({ applyStatus }).handle(statusEvent({ ...update, extra: 'dropped' }), ctx);
    expect(applyStatus).toHaveBeenCalledTimes(1);
    expect(applyStatus).toHaveBeenCalledWith(update);
  });

  it('treats a missing message as empty', async () => {
    const applyStatus = vi.fn(async () => 1);
    const { message: _message, ...withoutMessage } = update;
    await createHandler({ applyStatus }).handle(statusEvent(withoutMessage), ctx);
    expect(applyStatus).toHaveBeenCalledWith({ ...update, message: '' });
  });

  it('acks an update that is not newer (seq 0) without an error', async () => {
    const applyStatus = vi.fn(async () => 0);
    await expect(createHandler({ applyStatus }).handle(statusEvent(update), ctx)).resolves.toBeUndefined();
  });

  const bad: Array<[string, unknown, string, string?]> = [
    ['data is not an object', 'RUNNING', 'data'],
    ['data is an array', [update], 'data'],
    ['taskId differs from the subject', { ...update, taskId: 't-2' }, 'data.taskId'],
    ['taskId is missing', { ...update, taskId: undefined }, 'data.taskId'],
    ['state is unknown', { ...update, state: 'DONE' }, 'data.state'],
    ['state is lower case', { ...update, state: 'running' }, 'data.state'],
    ['attempt is fractional', { ...update, attempt: 1.5 }, 'data.attempt'],
    ['attempt is negative', { ...update, attempt: -1 }, 'data.attempt'],
    ['attempt is a string', { ...update, attempt: '2' }, 'data.attempt'],
    ['progress is above 100', { ...update, progress: 101 }, 'data.progress'],
    ['progress is negative', { ...update, progress: -1 }, 'data.progress'],
    ['progress is fractional', { ...update, progress: 50.5 }, 'data.progress'],
    ['progress is missing', { ...update, progress: undefined }, 'data.progress'],
    ['stage is not a string', { ...update, stage: 7 }, 'data.stage'],
    ['message is not a string', { ...update, message: { text: 'x' } }, 'data.message'],
    ['updatedAtMs is not a number', { ...update, updatedAtMs: 'now' }, 'data.updatedAtMs'],
    ['the subject is empty', update, 'subject', ''],
  ];

  it.each(bad)('refuses an update whose %s, naming the field and changing nothing', async (_name, data, field, subject) => {
    const applyStatus = vi.fn(async () => 1);
    const error = await createHandler({ applyStatus })
      .handle(statusEvent(data, subject ?? 't-1'), ctx)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
    expect((error as ValidationError).message).toContain(field.replace(/^data\./, ''));
    expect(applyStatus).not.toHaveBeenCalled();
  });

  it('turns a Redis failure into a retryable DependencyUnavailableError (503)', async () => {
    const cause = new Error("Stream isn't writeable and enableOfflineQueue options is false");
    const applyStatus = vi.fn(async () => {
      throw cause;
    });
    const error = await createHandler({ applyStatus })
      .handle(statusEvent(update), ctx)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as DependencyUnavailableError).httpStatus).toBe(503);
    expect((error as DependencyUnavailableError).retryable).toBe(true);
    expect((error as DependencyUnavailableError).cause).toBe(cause);
    expect((error as Error).message).toContain('RUNNING');
  });
});
