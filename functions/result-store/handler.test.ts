import { describe, expect, it } from 'vitest';
import { EVENT_TYPES, SUBJECTS, type FinishedData, type TaskEnvelope } from '../../shared/contract';
import { EVENT_IDS } from '../../shared/emit';
import { DependencyUnavailableError, ValidationError } from '../../shared/errors';
import { createEvent, type WireEvent } from '../../shared/events';
import { createLogger } from '../../shared/logger';
import type { HandlerContext } from '../../shared/runtime/function-app';
import { createHandler } from './handler';
import { describeSent, lastTransition, toStep } from '../../test/helpers/steps';
import type { StoredResult } from './result';

const NOW = 1_700_000_000_000;

function envelope(taskId = 't-1'): TaskEnvelope {
  return {
    taskId,
    type: 'hash',
    payload: '{"data":"abc"}',
    priority: 'medium',
    metadata: {},
    maxAttempts: 5,
    createdAtMs: NOW - 1_000,
    notBeforeMs: 0,
    tenant: 'acme',
  };
}

function finishedData(overrides: Partial<FinishedData> = {}): FinishedData {
  return {
    task: envelope(),
    state: 'SUCCEEDED',
    output: '"digest"',
    error: '',
    attempts: 1,
    startedAtMs: NOW - 50,
    finishedAtMs: NOW - 10,
    ...overrides,
  };
}

function finished(data: unknown, taskId = 't-1', attempt = 1): WireEvent {
  return createEvent({ id: EVENT_IDS.finished(taskId, attempt), component: 'worker', type: EVENT_TYPES.finished, taskId, data, timeMs: NOW });
}

const ctx: HandlerContext = { logger: createLogger('test', 'silent'), attempt: 1, maxDeliver: 5 };

/** One log of every side effect, in order, so tests can assert what happened before what. */
function setup(options: { storeFails?: boolean } = {}) {
  const log: string[] = [];
  const published: { subject: string; event: WireEvent }[] = [];
  // The compare-and-set rule of STORE_RESULT_LUA, over a Map.
  const store = new Map<string, StoredResult>();
  const handler = createHandler({
    publisher: {
      async publish(subject, event) {
        log.push(`publish ${describeSent([{ subject, event }])[0]}`);
        published.push({ subject, event });
      },
    },
    results: {
      store: async (taskId, attempt, json) => {
        if (options.storeFails) throw new DependencyUnavailableError('redis unavailable while storing the result of t-1: Connection is closed.');
        const result = JSON.parse(json) as StoredResult;
        expect({ taskId, attempt }).toEqual({ taskId: result.taskId, attempt: result.attempts });
        const current = store.get(result.taskId);
        if (current && current.attempts > result.attempts) {
          log.push(`store ${result.taskId} #${result.attempts} refused`);
          return false;
        }
        store.set(result.taskId, result);
        log.push(`store ${result.taskId} #${result.attempts}`);
        return true;
      },
    },
    now: () => NOW,
  });
  return { handler, log, published, store };
}

describe('result-store handler', () => {
  it('accepts only finished events', () => {
    expect(setup().handler.acceptedTypes).toEqual([EVENT_TYPES.finished]);
  });

  it('persists the result BEFORE it reports the terminal status, then audits', async () => {
    const { handler, log, published, store } = setup();
    await handler.handle(finished(finishedData()), ctx);

    expect(log).toEqual([`store t-1 #1`, `publish status SUCCEEDED audit result.stored`]);
    expect(store.get('t-1')).toEqual({
      taskId: 't-1',
      state: 'SUCCEEDED',
      output: '"digest"',
      error: '',
      attempts: 1,
      startedAtMs: NOW - 50,
      finishedAtMs: NOW - 10,
    });
    const status = published[0]!.event;
    expect(status.id).toBe(EVENT_IDS.status('t-1', 'SUCCEEDED', 1, 100));
    expect(toStep(status)).toMatchObject({ taskId: 't-1', stage: 'result-store', transitions: [{ state: 'SUCCEEDED', attempt: 1, progress: 100 }] });
  });

  it('reports FAILED with the error as message, and CANCELLED', async () => {
    const { handler, published } = setup();
    await handler.handle(finished(finishedData({ state: 'FAILED', output: '', error: 'boom', attempts: 5 }), 't-1', 5), ctx);
    const other = { ...finishedData({ state: 'CANCELLED', output: '', error: 'task was cancelled while running' }), task: envelope('t-2') };
    await handler.handle(finished(other, 't-2'), ctx);
    const statuses = published.filter((p) => p.subject === SUBJECTS.status).map((p) => ({ taskId: p.event.subject, ...lastTransition(p.event) }));
    expect(statuses).toMatchObject([
      { taskId: 't-1', state: 'FAILED', attempt: 5, message: 'boom' },
      { taskId: 't-2', state: 'CANCELLED', attempt: 1, message: 'task was cancelled while running' },
    ]);
  });

  it('a late result from an older attempt is not stored and reports nothing', async () => {
    const { handler, log, store } = setup();
    await handler.handle(finished(finishedData({ attempts: 3, output: '"newer"' }), 't-1', 3), ctx);
    log.length = 0;
    await handler.handle(finished(finishedData({ attempts: 2, state: 'FAILED', output: '', error: 'late' }), 't-1', 2), ctx);
    expect(log).toEqual(['store t-1 #2 refused']);
    expect(store.get('t-1')).toMatchObject({ attempts: 3, output: '"newer"', state: 'SUCCEEDED' });
  });

  it('the same attempt again is stored and reported again (a redelivery after a crash)', async () => {
    const { handler, log } = setup();
    await handler.handle(finished(finishedData()), ctx);
    await handler.handle(finished(finishedData()), ctx);
    expect(log.filter((entry) => entry.includes('SUCCEEDED'))).toHaveLength(2);
  });

  it('Redis down → DependencyUnavailableError (retried), nothing reported', async () => {
    const { handler, published } = setup({ storeFails: true });
    await expect(handler.handle(finished(finishedData()), ctx)).rejects.toBeInstanceOf(DependencyUnavailableError);
    expect(published).toEqual([]);
  });

  it('malformed data is a ValidationError naming the field, and nothing is stored or published', async () => {
    const cases: [unknown, RegExp][] = [
      ['text', /data must be a finished task/],
      [finishedData({ state: 'RUNNING' as never }), /data\.state must be one of SUCCEEDED, FAILED, CANCELLED/],
      [finishedData({ attempts: 0 }), /data\.attempts must be a positive integer/],
      [{ ...finishedData(), task: { taskId: 't-1' } }, /data\.task is not a task envelope/],
      [{ ...finishedData(), output: 3 }, /data\.output/],
    ];
    for (const [data, message] of cases) {
      const { handler, log } = setup();
      const error = await handler.handle(finished(data), ctx).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as Error).message).toMatch(message);
      expect(log).toEqual([]);
    }
  });

  it('a subject that is not the task id is refused', async () => {
    const { handler, log } = setup();
    const error = await handler.handle(finished(finishedData(), 't-other'), ctx).catch((e: unknown) => e);
    expect(error).toMatchObject({ field: 'subject' });
    expect(log).toEqual([]);
  });
});
