import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PermanentError, RetryableError, TaskCancelledError } from '../../../shared/errors';
import { TASK_TYPES } from '../../../shared/task-types';
import { echo } from './echo';
import { fail } from './fail';
import { flaky } from './flaky';
import { hash } from './hash';
import { HANDLERS } from './index';
import { sleep } from './sleep';
import type { TaskRunContext } from './task-handler';

function runContext(overrides: Partial<TaskRunContext> = {}): TaskRunContext & { progress: number[] } {
  const progress: number[] = [];
  return {
    progress,
    signal: new AbortController().signal,
    attempt: 1,
    reportProgress: async (percent) => {
      progress.push(percent);
    },
    task: { id: 'task-1', lastAttempt: 5, deadlineMs: Date.now() + 60_000 },
    ...overrides,
  };
}

describe('handler registry', () => {
  it('every task type has a handler and every handler has a task type', () => {
    expect(HANDLERS.map((h) => h.type).sort()).toEqual(TASK_TYPES.map((t) => t.type).sort());
  });

  it('has one handler per type', () => {
    expect(new Set(HANDLERS.map((h) => h.type)).size).toBe(HANDLERS.length);
  });
});

describe('echo', () => {
  it('returns the payload unchanged, whatever JSON it is', async () => {
    for (const payload of [{ a: [1, 'x', null] }, 'text', 42, null, [true]]) {
      expect(await echo.run(payload, runContext())).toEqual(payload);
    }
  });
});

describe('hash', () => {
  it('returns the sha256 hex of data', async () => {
    expect(await hash.run({ data: 'abc' }, runContext())).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(await hash.run({ data: 'héllo' }, runContext())).toBe(createHash('sha256').update('héllo').digest('hex'));
  });

  it('a payload without string data is a permanent error', async () => {
    await expect(hash.run({ data: 3 }, runContext())).rejects.toBeInstanceOf(PermanentError);
    await expect(hash.run('abc', runContext())).rejects.toBeInstanceOf(PermanentError);
  });
});

describe('fail', () => {
  it('always throws a retryable error with the given message', async () => {
    const error = await fail.run({ message: 'boom' }, runContext({ attempt: 3 })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RetryableError);
    expect((error as Error).message).toBe('boom');
  });

  it('uses a default message when none is given', async () => {
    await expect(fail.run({}, runContext())).rejects.toThrow(/failed on purpose/);
  });
});

describe('flaky', () => {
  it('throws a retryable error on attempts 1..N and succeeds after', async () => {
    for (const attempt of [1, 2]) {
      await expect(flaky.run({ failures: 2 }, runContext({ attempt }))).rejects.toBeInstanceOf(RetryableError);
    }
    expect(await flaky.run({ failures: 2 }, runContext({ attempt: 3 }))).toEqual({ attempts: 3 });
  });

  it('succeeds at once with failures 0', async () => {
    expect(await flaky.run({ failures: 0 }, runContext())).toEqual({ attempts: 1 });
  });

  it('a bad failures count is a permanent error', async () => {
    await expect(flaky.run({ failures: -1 }, runContext())).rejects.toBeInstanceOf(PermanentError);
  });
});

describe('sleep', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('waits ms, reports progress in steps up to 100 and returns {slept}', async () => {
    vi.useFakeTimers();
    const ctx = runContext();
    let done = false;
    const result = sleep.run({ ms: 1_000 }, ctx).then((value) => {
      done = true;
      return value;
    });
    await vi.advanceTimersByTimeAsync(499);
    expect(done).toBe(false);
    expect(ctx.progress).toEqual([10, 20, 30, 40]);
    await vi.advanceTimersByTimeAsync(501);
    expect(await result).toEqual({ slept: 1_000 });
    expect(ctx.progress).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
  });

  it('sleeping 0 ms returns at once', async () => {
    expect(await sleep.run({ ms: 0 }, runContext())).toEqual({ slept: 0 });
  });

  it('stops as soon as the signal fires, with its reason', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const ctx = runContext({ signal: controller.signal });
    const result = sleep.run({ ms: 60_000 }, ctx).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(6_000);
    controller.abort(new TaskCancelledError());
    expect(await result).toBeInstanceOf(TaskCancelledError);
    expect(ctx.progress).toEqual([10]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a bad ms is a permanent error', async () => {
    await expect(sleep.run({ ms: -5 }, runContext())).rejects.toBeInstanceOf(PermanentError);
    await expect(sleep.run({ ms: 'soon' }, runContext())).rejects.toBeInstanceOf(PermanentError);
  });
});
