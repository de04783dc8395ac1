import { describe, expect, it, vi } from 'vitest';
import { EVENT_TYPES, type StatusTransition, type StatusUpdate } from '../../shared/contract';
import { createStepEvent } from '../../shared/emit';
import { ValidationError } from '../../shared/errors';
import { createEvent, type WireEvent } from '../../shared/events';
import { createLogger } from '../../shared/logger';
import type { HandlerContext } from '../../shared/runtime/function-app';
import { createHandler } from './handler';

const ctx: HandlerContext = { logger: createLogger('test', 'silent'), attempt: 1, maxDeliver: 5 };

/** A single update: the format before stage steps (still in a stream across an upgrade). */
const update: StatusUpdate = {
  taskId: 't-1',
  state: 'RUNNING',
  stage: 'worker',
  attempt: 2,
  message: 'running',
  progress: 40,
  updatedAtMs: 1_700_000_000_000,
};
const { taskId: _taskId, stage: _stage, ...transition } = update;

function statusEvent(data: unknown, taskId = 't-1'): WireEvent {
  return createEvent({ id: 'e-1', component: 'worker', type: EVENT_TYPES.statusChanged, taskId, data });
}

function withStore(seq = 1) {
  const apply = vi.fn(async (_taskId: string, _stage: string, _transitions: readonly StatusTransition[]) => seq);
  return { apply, handler: createHandler({ status: { apply } }) };
}

describe('notifier handler', () => {
  it('accepts only status.changed events', () => {
    expect(withStore().handler.acceptedTypes).toEqual([EVENT_TYPES.statusChanged]);
  });

  it("applies a step's transitions in order in one call, with only the known fields", async () => {
    const { apply, handler } = withStore(3);
    const event = createStepEvent({
      component: 'ingest',
      taskId: 't-1',
      states: [{ state: 'VALIDATED' }, { state: 'ENRICHED' }],
      audit: { action: 'accepted', detail: 'type echo' },
      nowMs: 1_700_000_000_000,
    });
    await handler.handle({ ...event, data: { ...event.data, extra: 'dropped' } }, ctx);
    expect(apply).toHaveBeenCalledTimes(1);
    expect(apply).toHaveBeenCalledWith('t-1', 'ingest', [
      { state: 'VALIDATED', attempt: 0, message: '', progress: 0, updatedAtMs: 1_700_000_000_000 },
      { state: 'ENRICHED', attempt: 0, message: '', progress: 0, updatedAtMs: 1_700_000_000_000 },
    ]);
  });

  it('applies a single update (the format before steps) as one transition', async () => {
    const { apply, handler } = withStore();
    await handler.handle(statusEvent({ ...update, extra: 'dropped' }), ctx);
    expect(apply).toHaveBeenCalledWith('t-1', 'worker', [transition]);
  });

  it('treats a missing message as empty', async () => {
    const { apply, handler } = withStore();
    const { message: _message, ...withoutMessage } = update;
    await handler.handle(statusEvent(withoutMessage), ctx);
    expect(apply).toHaveBeenCalledWith('t-1', 'worker', [{ ...transition, message: '' }]);
  });

  it('acks a step that is not newer (seq 0) without an error', async () => {
    const { handler } = withStore(0);
    await expect(handler.handle(statusEvent(update), ctx)).resolves.toBeUndefined();
  });

  const step = { taskId: 't-1', stage: 'worker', transitions: [transition] };
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
    ['transitions is empty', { ...step, transitions: [] }, 'data.transitions'],
    ['transitions is not a list', { ...step, transitions: transition }, 'data.transitions'],
    ['transitions has too many entries', { ...step, transitions: Array(9).fill(transition) }, 'data.transitions'],
    ['a transition is not an object', { ...step, transitions: [transition, 'ENRICHED'] }, 'data.transitions[1]'],
    ['a transition has an unknown state', { ...step, transitions: [transition, { ...transition, state: 'DONE' }] }, 'data.transitions[1].state'],
    ['a transition has a bad progress', { ...step, transitions: [{ ...transition, progress: 101 }] }, 'data.transitions[0].progress'],
  ];

  it.each(bad)('refuses a status event whose %s, naming the field and changing nothing', async (_name, data, field, subject) => {
    const { apply, handler } = withStore();
    const error = await handler.handle(statusEvent(data, subject ?? 't-1'), ctx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
    expect((error as ValidationError).message).toContain(field.replace(/^data\./, ''));
    expect(apply).not.toHaveBeenCalled();
  });
});
