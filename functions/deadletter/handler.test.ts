import { describe, expect, it, vi } from 'vitest';
import { EVENT_TYPES, type DeadLetterData } from '../../shared/contract';
import { ValidationError } from '../../shared/errors';
import { createEvent, type WireEvent } from '../../shared/events';
import { createLogger } from '../../shared/logger';
import type { HandlerContext } from '../../shared/runtime/function-app';
import { createHandler, type DeadLetterDeps } from './handler';

const ctx: HandlerContext = { logger: createLogger('test', 'silent'), attempt: 1, maxDeliver: 5 };

const failedEvent = createEvent({ id: 't-1:scheduled', component: 'scheduler', type: EVENT_TYPES.scheduled, taskId: 't-1', data: { taskId: 't-1' } });

const letter: DeadLetterData = {
  taskId: 't-1',
  stage: 'worker',
  reason: 'failed after 5 attempts',
  attempts: 5,
  lastError: 'boom',
  event: failedEvent,
  atMs: 1_700_000_000_000,
};

function deadLetterEvent(data: unknown, id = 't-1:deadletter:worker'): WireEvent {
  return createEvent({ id, component: 'worker', type: EVENT_TYPES.deadlettered, taskId: 't-1', data });
}

type AppendOnce = DeadLetterDeps['store']['store'];
function deps(store: AppendOnce): DeadLetterDeps {
  return { store: { store } };
}

describe('deadletter handler', () => {
  it('accepts only task.deadlettered events', () => {
    expect(createHandler(deps(vi.fn())).acceptedTypes).toEqual([EVENT_TYPES.deadlettered]);
  });

  it('stores the dead letter once per event id (its id), with the failed event', async () => {
    const pushOnce = vi.fn<AppendOnce>(async () => true);
    const event = deadLetterEvent(letter);
    await createHandler(deps(pushOnce)).handle(event, ctx);
    expect(pushOnce).toHaveBeenCalledTimes(1);
    expect(pushOnce).toHaveBeenCalledWith(event.id, letter);
  });

  it('stores a dead letter that cannot name its task (bytes that were no CloudEvent)', async () => {
    const pushOnce = vi.fn<AppendOnce>(async () => true);
    await createHandler(deps(pushOnce)).handle(deadLetterEvent({ ...letter, taskId: '', event: 'not json {' }), ctx);
    const entry = pushOnce.mock.calls[0]![1];
    expect(entry).toMatchObject({ taskId: '', event: 'not json {' });
  });

  it('acks a repeat (the log had the id) without an error', async () => {
    await expect(createHandler(deps(vi.fn(async () => false))).handle(deadLetterEvent(letter), ctx)).resolves.toBeUndefined();
  });

  const bad: Array<[string, unknown, string]> = [
    ['data is missing', undefined, 'data'],
    ['data is an array', [letter], 'data'],
    ['taskId is a number', { ...letter, taskId: 1 }, 'data.taskId'],
    ['stage is empty', { ...letter, stage: '' }, 'data.stage'],
    ['reason is missing', { ...letter, reason: undefined }, 'data.reason'],
    ['attempts is fractional', { ...letter, attempts: 2.5 }, 'data.attempts'],
    ['lastError is an object', { ...letter, lastError: { message: 'x' } }, 'data.lastError'],
    ['atMs is negative', { ...letter, atMs: -5 }, 'data.atMs'],
  ];

  it.each(bad)('refuses a dead letter whose %s, naming the field and storing nothing', async (_name, data, field) => {
    const pushOnce = vi.fn<AppendOnce>(async () => true);
    const error = await createHandler(deps(pushOnce))
      .handle(deadLetterEvent(data), ctx)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
    expect((error as Error).message).toContain(field);
    expect(pushOnce).not.toHaveBeenCalled();
  });
});
