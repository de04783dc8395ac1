import { describe, expect, it } from 'vitest';
import { DEFAULT_FLOW_SETTINGS, type TaskEnvelope } from '../../shared/contract';
import { PermanentError, RetryableError, TaskCancelledError, TaskTimedOutError } from '../../shared/errors';
import { decide, prepare, runHandler, toOutcome } from './run-step';
import { HANDLERS, type TaskHandler } from './handlers';

/** Run options every test shares (the task a handler would be told of). */
const RUN = { attempt: 1, taskId: 'task-1', lastAttempt: 5, nowMs: 0, reportProgress: async () => undefined };
const registry = new Map(HANDLERS.map((handler) => [handler.type, handler]));
const task = (overrides: Partial<TaskEnvelope> = {}): TaskEnvelope => ({
  taskId: 't-1',
  type: 'echo',
  payload: '{"a":1}',
  priority: 'medium',
  metadata: {},
  maxAttempts: 5,
  createdAtMs: 0,
  notBeforeMs: 0,
  tenant: 'acme',
  ...overrides,
});

describe('worker run step', () => {
  it('prepare: the handler of the type and the parsed payload, or the permanent error', () => {
    expect(prepare(task(), registry)).toMatchObject({ handler: { type: 'echo' }, payload: { a: 1 } });
    expect(prepare(task({ type: 'nope' }), registry)).toEqual({ error: expect.stringMatching(/no handler for task type "nope" \(known: echo, /) });
    expect(prepare(task({ payload: '{' }), registry)).toEqual({ error: expect.stringMatching(/^payload is not valid JSON/) });
  });

  it('toOutcome: a cancel, a permanent error, anything else retryable', () => {
    expect(toOutcome(new TaskCancelledError('gone'))).toEqual({ kind: 'cancelled', error: 'gone' });
    expect(toOutcome(new PermanentError('bad'))).toEqual({ kind: 'permanent', error: 'bad' });
    expect(toOutcome(new RetryableError('later'))).toMatchObject({ kind: 'retryable' });
    expect(toOutcome(new TaskTimedOutError(20))).toMatchObject({ kind: 'retryable', error: expect.stringContaining('20 ms') });
    expect(toOutcome(new TypeError('boom'))).toMatchObject({ kind: 'retryable', error: expect.stringContaining('boom') });
  });

  it('decide: finished for success and cancel, failed for permanent and the last attempt, else retrying', () => {
    const flow = DEFAULT_FLOW_SETTINGS;
    expect(decide({ kind: 'succeeded', output: '1' }, 1, 5, flow)).toEqual({ kind: 'finished', state: 'SUCCEEDED', output: '1', error: '' });
    expect(decide({ kind: 'cancelled', error: 'c' }, 1, 5, flow)).toEqual({ kind: 'finished', state: 'CANCELLED', output: '', error: 'c' });
    expect(decide({ kind: 'permanent', error: 'p' }, 1, 5, flow)).toEqual({ kind: 'failed', reason: 'permanent failure', error: 'p' });
    expect(decide({ kind: 'retryable', error: 'r' }, 5, 5, flow)).toEqual({ kind: 'failed', reason: 'failed after 5 attempts', error: 'r' });
    expect(decide({ kind: 'retryable', error: 'r' }, 2, 5, flow)).toEqual({
      kind: 'retrying',
      message: 'r; retrying in 5s',
      error: 'attempt 2 of 5 failed: r',
      delayMs: 5_000,
    });
    // A task type's own schedule replaces the deployment's.
    expect(decide({ kind: 'retryable', error: 'r' }, 2, 5, { retryDelaysMs: [10, 20] })).toMatchObject({ message: 'r; retrying in 0.02s', delayMs: 20 });
  });

  it('runHandler: gives up on a handler that ignores its signal once the timeout fires', async () => {
    const stubborn: TaskHandler = { type: 'stubborn', run: () => new Promise(() => undefined) };
    const outcome = await runHandler(stubborn, null, { ...RUN, timeoutMs: 20, controller: new AbortController() });
    expect(outcome).toMatchObject({ kind: 'retryable', error: expect.stringContaining('timed out after 20 ms') });
  });

  it('runHandler: output that is not JSON-serialisable is a permanent failure', async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const handler: TaskHandler = { type: 'cyclic', run: async () => cyclic };
    const outcome = await runHandler(handler, null, { ...RUN, timeoutMs: 1_000, controller: new AbortController() });
    expect(outcome).toMatchObject({ kind: 'permanent', error: expect.stringContaining('not JSON-serialisable') });
  });
});
