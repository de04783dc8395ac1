import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  DEFAULT_FLOW_SETTINGS,
  EVENT_TYPES,
  SUBJECTS,
  type DeadLetterData,
  type FinishedData,
  type StoredStatus,
  type TaskEnvelope,
} from '../../shared/contract';
import { EVENT_IDS } from '../../shared/emit';
import { DependencyUnavailableError, PermanentError, RetryableError, ValidationError } from '../../shared/errors';
import { createEvent, type WireEvent } from '../../shared/events';
import { createLogger } from '../../shared/logger';
import type { Publisher } from '../../shared/ports';
import type { HandlerContext } from '../../shared/runtime/function-app';
import { TASK_TYPES, type TaskTypeSpec } from '../../shared/task-types';
import { describeSent as describeSteps, transitionsOf, type Sent } from '../../test/helpers/steps';
import { toClaimState, type AttemptClaims, type ClaimState } from './attempt-claims';
import { createCancelRegistry } from './cancel-source';
import { createHandler, toLastAttempt, toSecondsText, toTimeoutMs, type WorkerDeps } from './handler';
import { HANDLERS, type TaskHandler } from './handlers';

const NOW = 1_700_000_000_000;

function fakePublisher(): Publisher & { sent: Sent[] } {
  const sent: Sent[] = [];
  return {
    sent,
    async publish(subject, event) {
      sent.push({ subject, event });
    },
  };
}

/** Claims kept in memory with the Redis ones' rules (attempt-claims.ts): one run holds the task
 * at a time, its hold lapses after `leaseMs` of real time unless renewed; outcomes stay. */
function memoryClaims(leaseMs = 200): AttemptClaims & { state(attempt: number): ClaimState } {
  const runs = new Map<string, { holder: string; until: number }>();
  const outcomes = new Map<string, string>();
  const holder = (attempt: number, token: string) => `${attempt}:${token}`;
  const liveRun = (eventId: string) => {
    const run = runs.get(eventId);
    if (run && run.until <= Date.now()) runs.delete(eventId);
    return runs.get(eventId);
  };
  const stateOf = (eventId: string, attempt: number) =>
    toClaimState({ run: liveRun(eventId)?.holder ?? null, attempt: outcomes.get(`${eventId}:${attempt}`) ?? null, ended: outcomes.get(`${eventId}:ended`) ?? null });
  const claims: AttemptClaims = {
    leaseMs,
    async take(eventId, attempt, token) {
      if (stateOf(eventId, attempt) !== undefined) return false;
      runs.set(eventId, { holder: holder(attempt, token), until: Date.now() + leaseMs });
      return true;
    },
    async renew(eventId, attempt, token) {
      if (liveRun(eventId)?.holder === holder(attempt, token)) runs.set(eventId, { holder: holder(attempt, token), until: Date.now() + leaseMs });
    },
    async settle(eventId, attempt, outcome, token) {
      outcomes.set(outcome === 'ended' ? `${eventId}:ended` : `${eventId}:${attempt}`, outcome === 'ended' ? String(attempt) : outcome);
      await claims.release(eventId, attempt, token);
    },
    async release(eventId, attempt, token) {
      if (liveRun(eventId)?.holder === holder(attempt, token)) runs.delete(eventId);
    },
    read: async (eventId, attempt) => stateOf(eventId, attempt),
  };
  return { ...claims, state: (attempt) => stateOf(EVENT_IDS.scheduled('t-1'), attempt) };
}

function envelope(overrides: Partial<TaskEnvelope> = {}): TaskEnvelope {
  return {
    taskId: 't-1',
    type: 'hash',
    payload: JSON.stringify({ data: 'abc' }),
    priority: 'medium',
    metadata: {},
    maxAttempts: 5,
    createdAtMs: NOW - 100,
    notBeforeMs: 0,
    tenant: 'acme',
    ...overrides,
  };
}

function scheduled(data: unknown, taskId = 't-1'): WireEvent {
  return createEvent({ id: EVENT_IDS.scheduled(taskId), component: 'scheduler', type: EVENT_TYPES.scheduled, taskId, data, timeMs: NOW });
}

/** `maxDeliver` null = the delivery carries no maxdeliver extension. */
function ctx(attempt = 1, maxDeliver: number | null = 5): HandlerContext {
  return { logger: createLogger('test', 'silent'), attempt, maxDeliver: maxDeliver ?? undefined };
}

/** A handler that runs until its signal fires (or forever, if it ignores it). */
function hangingHandler(type: string, options: { ignoreSignal?: boolean } = {}): TaskHandler & { runs: number } {
  const handler = {
    type,
    runs: 0,
    run(_payload: unknown, runCtx: { signal: AbortSignal }) {
      handler.runs += 1;
      return new Promise<unknown>((_, reject) => {
        if (!options.ignoreSignal) runCtx.signal.addEventListener('abort', () => reject(new Error('aborted')));
      });
    },
  };
  return handler;
}

function setup(overrides: Partial<WorkerDeps> = {}) {
  const publisher = fakePublisher();
  const cancels = createCancelRegistry();
  let clock = NOW;
  const readStatus = vi.fn(async (_taskId: string): Promise<StoredStatus | undefined> => undefined);
  const extraTypes: TaskTypeSpec[] = [
    { type: 'hang', description: 'test', payloadSchema: {}, defaultTimeoutMs: 50, maxAttempts: 5, handler: { kind: 'builtin', name: 'hang' } },
    { type: 'stubborn', description: 'test', payloadSchema: {}, defaultTimeoutMs: 50, maxAttempts: 5, handler: { kind: 'builtin', name: 'stubborn' } },
  ];
  const claims = memoryClaims();
  const deps: WorkerDeps = {
    publisher,
    status: { read: readStatus },
    claims,
    cancels,
    handlers: HANDLERS,
    taskTypes: [...TASK_TYPES, ...extraTypes],
    flow: DEFAULT_FLOW_SETTINGS,
    now: () => clock,
    progressIntervalMs: 100,
    ...overrides,
  };
  return {
    handler: createHandler(deps),
    publisher,
    cancels,
    readStatus,
    claims,
    tick: (ms: number) => (clock += ms),
  };
}

/** As describeSteps with attempts, plus `deadletter`, `finished <state> #<attempts>` and a
 * RUNNING status's progress (`status RUNNING#1 30%`). */
const describeSent = (sent: Sent[]) =>
  sent.map((entry) => {
    const { subject, event } = entry;
    if (subject === SUBJECTS.deadletter) return 'deadletter';
    if (subject === SUBJECTS.results) return `finished ${(event.data as FinishedData).state} #${(event.data as FinishedData).attempts}`;
    const line = describeSteps([entry], { attempts: true })[0]!;
    const progress = subject === SUBJECTS.status ? transitionsOf([entry]).at(-1)!.progress : 0;
    return progress ? `${line} ${progress}%` : line;
  });

const finishedOf = (sent: Sent[]) => sent.filter((s) => s.subject === SUBJECTS.results).map((s) => s.event);
const deadLettersOf = (sent: Sent[]) => sent.filter((s) => s.subject === SUBJECTS.deadletter).map((s) => s.event.data as DeadLetterData);
const statusesOf = transitionsOf;

afterEach(() => {
  vi.useRealTimers();
});

describe('worker handler', () => {
  it('accepts only scheduled events', () => {
    expect(setup().handler.acceptedTypes).toEqual([EVENT_TYPES.scheduled]);
  });

  it('a successful task: handler.started, RUNNING, then finished SUCCEEDED with the output, and no terminal status', async () => {
    const { handler, publisher, tick } = setup({
      handlers: [{ type: 'hash', run: async () => (tick(250), 'digest') }],
    });
    const event = scheduled(envelope());
    await handler.handle(event, ctx(1));

    expect(describeSent(publisher.sent)).toEqual(['status RUNNING#1 audit handler.started #1', 'finished SUCCEEDED #1']);
    const [finished] = finishedOf(publisher.sent);
    expect(finished!.id).toBe(EVENT_IDS.finished('t-1', 1));
    expect(finished!.type).toBe(EVENT_TYPES.finished);
    expect(finished!.subject).toBe('t-1');
    expect(finished!.data).toEqual({
      task: envelope(),
      state: 'SUCCEEDED',
      output: JSON.stringify('digest'),
      error: '',
      attempts: 1,
      startedAtMs: NOW,
      finishedAtMs: NOW + 250,
    } satisfies FinishedData);
  });

  it("runs the handler without waiting for RUNNING's PubAck, and answers only once it has it", async () => {
    const publisher = fakePublisher();
    let ackRunning!: () => void;
    const runningAcked = new Promise<void>((resolve) => (ackRunning = resolve));
    const slowRunning: Publisher = {
      publish: async (subject, event) => {
        await publisher.publish(subject, event);
        if (subject === SUBJECTS.status) await runningAcked;
      },
    };
    const runs: number[] = [];
    const { handler } = setup({ publisher: slowRunning, handlers: [{ type: 'hash', run: async (_payload, run) => (runs.push(run.attempt), 'digest') }] });
    let answered = false;
    const handled = handler.handle(scheduled(envelope()), ctx(1)).then(() => (answered = true));
    await vi.waitFor(() => expect(describeSent(publisher.sent)).toEqual(['status RUNNING#1 audit handler.started #1', 'finished SUCCEEDED #1']));
    expect(runs).toEqual([1]);
    expect(answered).toBe(false);
    ackRunning();
    await handled;
  });

  it('a RUNNING that cannot be published fails the delivery (retried), though the handler ran', async () => {
    const publisher = fakePublisher();
    const failingRunning: Publisher = {
      publish: async (subject, event) => {
        if (subject === SUBJECTS.status) throw new DependencyUnavailableError('nats unavailable while publishing: timeout');
        await publisher.publish(subject, event);
      },
    };
    const { handler, claims } = setup({ publisher: failingRunning, handlers: [{ type: 'hash', run: async () => 'digest' }] });
    await expect(handler.handle(scheduled(envelope()), ctx(1))).rejects.toThrow(/nats unavailable/);
    // Let go, not settled: the redelivery runs the attempt again.
    expect(claims.state(1)).toBeUndefined();
  });

  it('runs the real registry: hash returns the sha256 of data as JSON text', async () => {
    const { handler, publisher } = setup();
    await handler.handle(scheduled(envelope()), ctx(1));
    const data = finishedOf(publisher.sent)[0]!.data as FinishedData;
    expect(JSON.parse(data.output)).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('a malformed envelope is a ValidationError naming the field, and nothing is published', async () => {
    const { handler, publisher } = setup();
    const error = await handler.handle(scheduled({ ...envelope(), priority: 'urgent' }), ctx()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toMatch(/priority/);
    expect(publisher.sent).toEqual([]);
  });

  it('a retryable failure with attempts left: status RETRYING with the delay, then throws a RetryableError', async () => {
    const { handler, publisher } = setup();
    const task = envelope({ type: 'fail', payload: JSON.stringify({ message: 'boom' }) });
    const error = await handler.handle(scheduled(task), ctx(2)).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RetryableError);
    expect((error as Error).message).toMatch(/boom/);
    expect(describeSent(publisher.sent)).toEqual(['status RUNNING#2 audit handler.started #2', 'status RETRYING#2']);
    const retrying = statusesOf(publisher.sent).at(-1)!;
    expect(retrying.message).toBe('boom; retrying in 5s');
    expect(finishedOf(publisher.sent)).toEqual([]);
    expect(deadLettersOf(publisher.sent)).toEqual([]);
  });

  it('an unexpected error is retried like a retryable one', async () => {
    const { handler, publisher } = setup({ handlers: [{ type: 'hash', run: async () => Promise.reject(new TypeError('oops')) }] });
    await expect(handler.handle(scheduled(envelope()), ctx(1))).rejects.toBeInstanceOf(RetryableError);
    expect(statusesOf(publisher.sent).at(-1)).toMatchObject({ state: 'RETRYING', message: 'oops; retrying in 1s' });
  });

  it('the last attempt fails for good: finished FAILED and exactly one dead letter, and the delivery is acked', async () => {
    const { handler, publisher } = setup();
    const task = envelope({ type: 'fail', payload: JSON.stringify({ message: 'boom' }) });
    const event = scheduled(task);
    await handler.handle(event, ctx(5));

    expect(describeSent(publisher.sent)).toEqual([
      'status RUNNING#5 audit handler.started #5',
      'deadletter',
      'audit handler.failed #5',
      'finished FAILED #5',
    ]);
    const deadLetters = deadLettersOf(publisher.sent);
    expect(deadLetters).toHaveLength(1);
    expect(deadLetters[0]).toMatchObject({ taskId: 't-1', stage: 'worker', reason: 'failed after 5 attempts', attempts: 5, lastError: 'boom' });
    expect(deadLetters[0]!.event).toEqual(event);
    expect(finishedOf(publisher.sent)[0]!.data).toMatchObject({ state: 'FAILED', error: 'boom', output: '', attempts: 5 });
    expect(statusesOf(publisher.sent).map((s) => s.state)).not.toContain('RETRYING');
  });

  it('max_attempts smaller than MaxDeliver: the task fails for good on its own last attempt', async () => {
    const { handler, publisher } = setup();
    const task = envelope({ type: 'fail', payload: '{}', maxAttempts: 2 });
    await expect(handler.handle(scheduled(task), ctx(1, 5))).rejects.toBeInstanceOf(RetryableError);
    await handler.handle(scheduled(task), ctx(2, 5));
    expect(finishedOf(publisher.sent).map((e) => (e.data as FinishedData).state)).toEqual(['FAILED']);
    expect(deadLettersOf(publisher.sent)).toHaveLength(1);
    expect(deadLettersOf(publisher.sent)[0]!.reason).toBe('failed after 2 attempts');
  });

  it('MaxDeliver smaller than max_attempts bounds the attempts too; without maxdeliver the flow setting does', () => {
    expect(toLastAttempt(5, 3)).toBe(3);
    expect(toLastAttempt(2, 5)).toBe(2);
    expect(toLastAttempt(0, 5)).toBe(5);
    // A task type's budget caps both the task's own limit and the default.
    expect(toLastAttempt(0, 5, 3)).toBe(3);
    expect(toLastAttempt(4, 5, 3)).toBe(3);
    expect(toLastAttempt(2, 5, 3)).toBe(2);
  });

  it('uses the flow MaxDeliver when the delivery does not say', async () => {
    const { handler, publisher } = setup({ flow: { ...DEFAULT_FLOW_SETTINGS, maxDeliver: 3 } });
    await handler.handle(scheduled(envelope({ type: 'fail', payload: '{}' })), ctx(3, null));
    expect(finishedOf(publisher.sent).map((e) => (e.data as FinishedData).state)).toEqual(['FAILED']);
  });

  it('a delivery beyond the last attempt (an earlier one died) fails for good without running', async () => {
    const stubborn = hangingHandler('hash');
    const { handler, publisher } = setup({ handlers: [stubborn] });
    await handler.handle(scheduled(envelope({ maxAttempts: 2 })), ctx(3, 5));
    expect(stubborn.runs).toBe(0);
    expect(describeSent(publisher.sent)).toEqual(['deadletter', 'audit handler.failed #3', 'finished FAILED #3']);
  });

  it('a permanent error is not retried: finished FAILED and a dead letter on the first attempt', async () => {
    const { handler, publisher } = setup({ handlers: [{ type: 'hash', run: async () => Promise.reject(new PermanentError('bad input')) }] });
    await handler.handle(scheduled(envelope()), ctx(1));
    expect(deadLettersOf(publisher.sent)).toMatchObject([{ reason: 'permanent failure', attempts: 1, lastError: 'bad input' }]);
    expect(finishedOf(publisher.sent)[0]!.data).toMatchObject({ state: 'FAILED', error: 'bad input' });
  });

  it('an unknown type or a payload that is not JSON fails for good without running', async () => {
    const { handler, publisher } = setup();
    await handler.handle(scheduled(envelope({ taskId: 't-u', type: 'nope' }), 't-u'), ctx(1));
    await handler.handle(scheduled(envelope({ taskId: 't-j', payload: '{oops' }), 't-j'), ctx(1));
    expect(describeSent(publisher.sent).filter((s) => s.startsWith('audit handler.started'))).toEqual([]);
    expect(deadLettersOf(publisher.sent).map((d) => d.lastError)).toEqual([
      expect.stringMatching(/no handler for task type "nope"/),
      expect.stringMatching(/payload is not valid JSON/),
    ]);
    expect(finishedOf(publisher.sent).map((e) => (e.data as FinishedData).state)).toEqual(['FAILED', 'FAILED']);
  });

  it('times out after metadata.timeout_ms: retried while attempts are left', async () => {
    vi.useFakeTimers();
    const { handler, publisher } = setup({ handlers: [hangingHandler('hang')] });
    const task = envelope({ type: 'hang', payload: '{}', metadata: { timeout_ms: '2000' } });
    const result = handler.handle(scheduled(task), ctx(1)).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1_999);
    expect(statusesOf(publisher.sent).map((s) => s.state)).toEqual(['RUNNING']);
    await vi.advanceTimersByTimeAsync(1);
    expect(await result).toBeInstanceOf(RetryableError);
    expect(statusesOf(publisher.sent).at(-1)).toMatchObject({ state: 'RETRYING', message: 'task timed out after 2000 ms; retrying in 1s' });
  });

  it('times out after the type default even when the handler ignores its signal, and fails on the last attempt', async () => {
    vi.useFakeTimers();
    const { handler, publisher } = setup({ handlers: [hangingHandler('stubborn', { ignoreSignal: true })] });
    const result = handler.handle(scheduled(envelope({ type: 'stubborn', payload: '{}' })), ctx(5));
    await vi.advanceTimersByTimeAsync(50);
    await result;
    expect(finishedOf(publisher.sent)[0]!.data).toMatchObject({ state: 'FAILED', error: 'task timed out after 50 ms' });
    expect(deadLettersOf(publisher.sent)).toHaveLength(1);
  });

  it('timeout: metadata.timeout_ms when a positive integer, else the type default', () => {
    const sleepDefault = TASK_TYPES.find((t) => t.type === 'sleep')!.defaultTimeoutMs;
    expect(toTimeoutMs(envelope({ type: 'sleep', metadata: { timeout_ms: '1500' } }), TASK_TYPES)).toBe(1500);
    for (const bad of ['0', '-3', 'soon', '1.5', '']) {
      expect(toTimeoutMs(envelope({ type: 'sleep', metadata: { timeout_ms: bad } }), TASK_TYPES)).toBe(sleepDefault);
    }
    expect(toTimeoutMs(envelope({ type: 'sleep', metadata: { timeout_ms: '99999999999' } }), TASK_TYPES)).toBe(2_147_483_647);
  });

  it('cancelled while running: the handler is aborted and finished CANCELLED goes out, no retry, no dead letter', async () => {
    vi.useFakeTimers();
    const { handler, publisher, cancels } = setup({ now: () => Date.now() });
    const task = envelope({ type: 'sleep', payload: JSON.stringify({ ms: 60_000 }) });
    const result = handler.handle(scheduled(task), ctx(1));
    await vi.advanceTimersByTimeAsync(6_000);
    cancels.cancel('t-other');
    await vi.advanceTimersByTimeAsync(0);
    expect(finishedOf(publisher.sent)).toEqual([]);

    cancels.cancel('t-1');
    await result;
    expect(describeSent(publisher.sent)).toEqual([
      'status RUNNING#1 audit handler.started #1',
      'status RUNNING#1 10%',
      'finished CANCELLED #1',
    ]);
    expect(finishedOf(publisher.sent)[0]!.data).toMatchObject({ state: 'CANCELLED', error: 'task was cancelled while running' });
    expect(cancels.watching()).toBe(0);
  });

  it('a cancel that arrives while the status is read still cancels the run', async () => {
    const { handler, publisher, cancels, readStatus } = setup({ handlers: [hangingHandler('hash')] });
    readStatus.mockImplementationOnce(async () => {
      cancels.cancel('t-1');
      return undefined;
    });
    await handler.handle(scheduled(envelope()), ctx(1));
    expect(finishedOf(publisher.sent).map((e) => (e.data as FinishedData).state)).toEqual(['CANCELLED']);
  });

  it('skips a task that is already terminal without running it', async () => {
    const spy = hangingHandler('hash');
    const { handler, publisher, readStatus, claims } = setup({ handlers: [spy] });
    readStatus.mockResolvedValue({
      taskId: 't-1',
      seq: 3,
      state: 'CANCELLED',
      stage: 'gateway',
      attempt: 0,
      message: '',
      progress: 0,
      updatedAtMs: NOW,
    });
    await handler.handle(scheduled(envelope()), ctx(2));
    expect(spy.runs).toBe(0);
    expect(describeSent(publisher.sent)).toEqual(['audit skipped.cancelled #2']);
    // The claim taken beside the status read is let go again: nothing holds the task.
    expect(claims.state(2)).toBeUndefined();
  });

  // A copy of the event comes as the same attempt; a redelivery after a source crash as any.
  it.each([
    ['a copy of the event (the same attempt)', 1],
    ['a delivery as the next attempt', 2],
  ])('one run at a time: %s while a run lives waits for it, then follows its outcome', async (_what, attempt) => {
    let release!: () => void;
    const runs: number[] = [];
    const { handler, publisher } = setup({
      handlers: [{ type: 'hash', run: (_payload, run) => (runs.push(run.attempt), new Promise((resolve) => (release = () => resolve('ok')))) }],
    });
    const first = handler.handle(scheduled(envelope()), ctx(1));
    await vi.waitFor(() => expect(runs).toEqual([1]));
    let secondSettled = false;
    const second = handler.handle(scheduled(envelope()), ctx(attempt)).finally(() => (secondSettled = true));
    // Still waiting after more than two leases (200 ms): the live run renews its hold.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(secondSettled).toBe(false);
    release();
    await Promise.all([first, second]);
    expect(runs).toEqual([1]);
    expect(finishedOf(publisher.sent)).toHaveLength(1);
    expect(describeSent(publisher.sent)).toContain(`audit skipped.duplicate #${attempt}`);
  });

  it('a delivery of an event whose run died (its lease lapsed, no outcome) runs the task itself, whatever attempt it carries', async () => {
    const runs: number[] = [];
    const { handler, publisher, claims } = setup({ handlers: [{ type: 'hash', run: async (_payload, run) => (runs.push(run.attempt), 'ok') }] });
    // The run that held attempt 1 died with its worker: nobody renews its lease.
    expect(await claims.take(EVENT_IDS.scheduled('t-1'), 1, 'dead-run')).toBe(true);
    await handler.handle(scheduled(envelope()), ctx(1));
    expect(runs).toEqual([1]);
    expect(finishedOf(publisher.sent).map((event) => (event.data as FinishedData).state)).toEqual(['SUCCEEDED']);
    expect(claims.state(1)).toBe('ended');
  });

  it('once an attempt ended the task (its `finished` is out), a redelivery as any attempt is skipped, even before the status is terminal', async () => {
    const runs: number[] = [];
    const { handler, publisher } = setup({ handlers: [{ type: 'hash', run: async (_payload, run) => (runs.push(run.attempt), 'ok') }] });
    await handler.handle(scheduled(envelope()), ctx(1));
    // The result-store has not stored it yet (readStatus answers nothing): the worker still knows.
    await handler.handle(scheduled(envelope()), ctx(2));
    expect(runs).toEqual([1]);
    expect(finishedOf(publisher.sent)).toHaveLength(1);
    expect(describeSent(publisher.sent)).toContain('audit skipped.duplicate #2');
  });

  it('a delivery as an attempt that already failed with attempts left answers retryable, so the next attempt comes even if the first delivery is gone', async () => {
    const spy = hangingHandler('hash');
    const { handler, publisher, claims } = setup({ handlers: [spy] });
    await claims.settle(EVENT_IDS.scheduled('t-1'), 1, 'retrying', 'earlier-run');
    await expect(handler.handle(scheduled(envelope()), ctx(1))).rejects.toBeInstanceOf(RetryableError);
    expect(spy.runs).toBe(0);
    expect(publisher.sent).toEqual([]);
  });

  it('a run records its outcome for later deliveries: retrying after a retryable failure, ended after the last attempt', async () => {
    const failing: TaskHandler = { type: 'hash', run: async () => Promise.reject(new RetryableError('upstream 503')) };
    const { handler, claims } = setup({ handlers: [failing] });
    await expect(handler.handle(scheduled(envelope({ maxAttempts: 2 })), ctx(1))).rejects.toBeInstanceOf(RetryableError);
    expect(claims.state(1)).toBe('retrying');
    await handler.handle(scheduled(envelope({ maxAttempts: 2 })), ctx(2));
    expect(claims.state(2)).toBe('ended');
  });

  it('a run that cannot publish its outcome lets go of the attempt, so a redelivery runs it again', async () => {
    const { handler, publisher, claims } = setup();
    const publish = publisher.publish.bind(publisher);
    publisher.publish = async (subject, event) => {
      if (subject === SUBJECTS.results) throw new Error('NATS unavailable');
      await publish(subject, event);
    };
    await expect(handler.handle(scheduled(envelope()), ctx(1))).rejects.toThrow();
    expect(claims.state(1)).toBeUndefined();
    expect(claims.state(2)).toBeUndefined();
  });

  it('Redis down while claiming the attempt → 503-class error, nothing run', async () => {
    const spy = hangingHandler('hash');
    const claims = { ...memoryClaims(), take: async () => Promise.reject(new DependencyUnavailableError('redis unavailable while claiming attempt 1: ECONNREFUSED')) };
    const { handler } = setup({ handlers: [spy], claims });
    await expect(handler.handle(scheduled(envelope()), ctx(1))).rejects.toMatchObject({ httpStatus: 503 });
    expect(spy.runs).toBe(0);
  });

  it('Redis down while reading the status → 503-class error, nothing run', async () => {
    const spy = hangingHandler('hash');
    const { handler, publisher, readStatus, claims } = setup({ handlers: [spy] });
    readStatus.mockRejectedValue(new DependencyUnavailableError('redis unavailable while reading the status of t-1: Connection is closed.'));
    await expect(handler.handle(scheduled(envelope()), ctx(1))).rejects.toMatchObject({ httpStatus: 503 });
    expect(spy.runs).toBe(0);
    expect(publisher.sent).toEqual([]);
    // The claim taken beside the read is let go: the redelivery need not wait for its lease.
    expect(claims.state(1)).toBeUndefined();
  });

  it('progress is published as RUNNING statuses, throttled to the interval, 100 always', async () => {
    vi.useFakeTimers();
    const { handler, publisher } = setup({ now: () => Date.now(), progressIntervalMs: 250 });
    const result = handler.handle(scheduled(envelope({ type: 'sleep', payload: JSON.stringify({ ms: 1_000 }) })), ctx(1));
    await vi.advanceTimersByTimeAsync(1_000);
    await result;
    const running = statusesOf(publisher.sent).filter((s) => s.state === 'RUNNING');
    // Reports every 100 ms, at most one status per 250 ms: the highest held report goes out when
    // each interval ends (20 at 250 ms, 40 at 500, 70 at 750, 90 at 1,000), then 100 at once.
    expect(running.map((s) => s.progress)).toEqual([0, 20, 40, 70, 90, 100]);
    expect(finishedOf(publisher.sent)[0]!.data).toMatchObject({ state: 'SUCCEEDED', output: JSON.stringify({ slept: 1_000 }) });
  });

  it('formats the retry delay in seconds', () => {
    expect([1_000, 500, 60_000, 1_234].map(toSecondsText)).toEqual(['1s', '0.5s', '60s', '1.234s']);
  });
});
