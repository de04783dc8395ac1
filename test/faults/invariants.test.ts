// The fault checker's pure part with made-up observations: a repeat the audit list hides, a
// second run of a task no fault touched, a second dead letter: each must be reported, with the
// task's id and its run count.
import { describe, expect, it } from 'vitest';
import type { StoredStatus, TaskStateName } from '../../shared/contract';
import { toDeadLetterViolations, toInvariants, toRunViolation, toSkippedAttempts, toTouched, type Observed, type ObservedTask } from './invariants';
import { createRunLedger, type RunRecord } from './run-counter';

const start = (taskId: string, attempt: number, atMs: number): RunRecord => ({ kind: 'start', taskId, attempt, atMs });
const end = (taskId: string, attempt: number, atMs: number): RunRecord => ({ kind: 'end', taskId, attempt, atMs });

/** A task that went QUEUED → RUNNING → `state` without a fault in its history. */
function finishedTask(taskId: string, state: TaskStateName): ObservedTask {
  const entry = (seq: number, s: TaskStateName, stage: string): StoredStatus => ({
    taskId,
    seq,
    state: s,
    stage,
    attempt: s === 'QUEUED' ? 0 : 1,
    message: '',
    progress: 0,
    updatedAtMs: seq,
  });
  const history = [entry(1, 'QUEUED', 'gateway'), entry(2, 'RUNNING', 'worker'), entry(3, state, 'result-store')];
  return { status: history[2]!, history, hasResult: state === 'SUCCEEDED' };
}

function observe(tasks: Record<string, TaskStateName>, extra: Partial<Observed> = {}): Observed {
  return {
    tasks: new Map(Object.entries(tasks).map(([id, state]) => [id, finishedTask(id, state)])),
    deadLetters: [],
    auditStarts: [],
    ...extra,
  };
}

const letter = (taskId: string, stage: string) => ({ taskId, stage, reason: 'because', attempts: 1 });

describe('toInvariants: handler runs', () => {
  it('reports a second run of the same attempt that only the published records show (the audit list kept one)', () => {
    const observed = observe({ a: 'SUCCEEDED' }, { auditStarts: [start('a', 1, 1_000)] });
    const published = [start('a', 1, 1_000), end('a', 1, 1_100), start('a', 1, 9_000), end('a', 1, 9_100)];
    const check = toInvariants(observed, published, { taskIds: ['a'] });
    expect(check.runsByTask.get('a')).toBe(2);
    expect(check.violations).toEqual([
      'a: SUCCEEDED after 2 handler runs, expected 1, no fault touched it (runs: attempt 1 at 00:00:01.000, attempt 1 at 00:00:09.000)',
    ]);
  });

  it('counts a start the counter missed (it was away) from the audit list, and a start seen in both once', () => {
    const observed = observe({ a: 'SUCCEEDED', b: 'SUCCEEDED' }, { auditStarts: [start('a', 1, 1_000), start('b', 1, 2_000)] });
    const check = toInvariants(observed, [start('a', 1, 1_000)], { taskIds: ['a', 'b'] });
    expect(check.violations).toEqual([]);
    expect(check.runsByTask).toEqual(new Map([['a', 1], ['b', 1]]));
  });

  it('allows a second run only to the task running when the fault struck; the other must have run once', () => {
    const published = [
      start('running', 1, 1_000),
      start('running', 2, 8_000),
      end('running', 2, 8_100),
      start('finished-before', 1, 1_000),
      end('finished-before', 1, 1_500),
      start('finished-before', 2, 8_000),
      end('finished-before', 2, 8_100),
    ];
    const check = toInvariants(observe({ running: 'SUCCEEDED', 'finished-before': 'SUCCEEDED' }), published, {
      taskIds: ['running', 'finished-before'],
      faults: [{ name: 'worker SIGKILL', atMs: 2_000 }],
    });
    expect(check.touched).toEqual(new Map([['running', ['worker SIGKILL']]]));
    expect(check.violations).toHaveLength(1);
    expect(check.violations[0]).toMatch(/^finished-before: SUCCEEDED after 2 handler runs, expected 1, no fault touched it/);
  });

  it('only the checked tasks can be touched: another scenario\'s run in the audit list, never ended as far as the counter saw, is not', () => {
    const observed = observe({ mine: 'SUCCEEDED' }, { auditStarts: [start('mine', 1, 1_000), start('earlier-scenario', 1, 500)] });
    const check = toInvariants(observed, [start('mine', 1, 1_000), end('mine', 1, 1_100)], { taskIds: ['mine'], faults: [{ name: 'worker SIGSTOP', atMs: 2_000 }] });
    expect(check.touched.size).toBe(0);
    expect(check.violations).toEqual([]);
  });

  it('allows one more run per fault that touched a task, not more', () => {
    const published = [start('a', 1, 1_000), start('a', 2, 3_000), start('a', 3, 5_000), end('a', 3, 5_100)];
    const faults = [{ name: 'first', atMs: 2_000 }];
    const once = toInvariants(observe({ a: 'SUCCEEDED' }), published, { taskIds: ['a'], faults });
    expect(once.violations).toEqual([
      'a: SUCCEEDED after 3 handler runs, expected 1, or up to 1 more: running when first struck (runs: attempt 1 at 00:00:01.000, attempt 2 at 00:00:03.000, attempt 3 at 00:00:05.000)',
    ]);
    const twice = toInvariants(observe({ a: 'SUCCEEDED' }), published, { taskIds: ['a'], faults: [...faults, { name: 'second', atMs: 4_000 }] });
    expect(twice.violations).toEqual([]);
  });
});

describe('toTouched', () => {
  it('touches what runs when the fault strikes, what starts while it lasts, and (with unconfirmedMs) what had just ended', () => {
    const ledger = createRunLedger([
      start('before', 1, 100),
      end('before', 1, 200),
      start('just-ended', 1, 900),
      end('just-ended', 1, 950),
      start('running', 1, 500),
      start('during', 1, 1_500),
      start('after', 1, 3_000),
    ]);
    const touched = toTouched(ledger, [{ name: 'nats-server SIGKILL', atMs: 1_000, untilMs: 2_000, unconfirmedMs: 100 }]);
    expect([...touched.keys()].sort()).toEqual(['during', 'just-ended', 'running']);
  });
});

describe('toRunViolation by terminal state', () => {
  const runs = (count: number) => Array.from({ length: count }, (_, i) => ({ taskId: 't', attempt: i + 1, atMs: i }));
  it.each([
    { state: 'SUCCEEDED', count: 1, needed: undefined, touched: 0, ok: true },
    { state: 'SUCCEEDED', count: 0, needed: undefined, touched: 0, ok: false },
    { state: 'SUCCEEDED', count: 2, needed: 2, touched: 0, ok: true },
    { state: 'SUCCEEDED', count: 3, needed: 2, touched: 1, ok: true },
    { state: 'SUCCEEDED', count: 3, needed: 2, touched: 0, ok: false },
    { state: 'FAILED', count: 1, needed: 2, touched: 0, ok: true },
    { state: 'FAILED', count: 3, needed: 2, touched: 0, ok: false },
    { state: 'FAILED', count: 7, needed: undefined, touched: 0, ok: true },
    { state: 'REJECTED', count: 0, needed: undefined, touched: 0, ok: true },
    { state: 'REJECTED', count: 1, needed: undefined, touched: 1, ok: false },
    { state: 'CANCELLED', count: 1, needed: 0, touched: 0, ok: false },
  ])('$state after $count runs (needs $needed, touched by $touched faults): ok $ok', ({ state, count, needed, touched, ok }) => {
    const violation = toRunViolation('t', state, runs(count), needed, Array.from({ length: touched }, (_, i) => `fault ${i}`));
    if (ok) expect(violation).toBeUndefined();
    else expect(violation).toMatch(new RegExp(`^t: ${state}.* ${count} `));
  });
});

describe('attempts a fault used up without a run', () => {
  const at = (attempt: number, atMs: number) => ({ taskId: 't', attempt, atMs });
  const stop = { name: 'SIGTERM to every process', atMs: 100 };
  it.each([
    { name: 'none skipped', starts: [at(1, 50), at(2, 150)], faults: [stop], skipped: 0 },
    { name: 'attempt 1 used up by the stop, run 2 after it', starts: [at(2, 150)], faults: [stop], skipped: 1 },
    { name: 'attempts 2 and 3 used up, run 4 after the stop', starts: [at(1, 50), at(4, 300)], faults: [stop], skipped: 2 },
    { name: 'a skip before any fault struck', starts: [at(2, 50)], faults: [stop], skipped: 0 },
    { name: 'a skip with no fault at all', starts: [at(2, 150)], faults: [], skipped: 0 },
    { name: 'the same attempt run twice', starts: [at(1, 50), at(1, 150)], faults: [stop], skipped: 0 },
  ])('$name: $skipped', ({ starts, faults, skipped }) => {
    expect(toSkippedAttempts(starts, faults)).toBe(skipped);
  });

  it('a flaky task whose first attempt the stop used up may succeed after one run; without the fault it may not', () => {
    const task = finishedTask('t', 'SUCCEEDED');
    const observed: Observed = { tasks: new Map([['t', task]]), deadLetters: [], auditStarts: [] };
    const records = [start('t', 2, 150), end('t', 2, 160)];
    const options = { taskIds: ['t'], expectedRuns: new Map([['t', 2]]) };
    expect(toInvariants(observed, records, { ...options, faults: [stop] }).violations).toEqual([]);
    expect(toInvariants(observed, records, options).violations).toEqual([expect.stringMatching(/^t: SUCCEEDED after 1 handler runs, expected 2/)]);
  });

  it('a task that needs no run (its status events were injected) still needs none after a fault', () => {
    const task = finishedTask('t', 'SUCCEEDED');
    const observed: Observed = { tasks: new Map([['t', task]]), deadLetters: [], auditStarts: [] };
    const options = { taskIds: ['t'], expectedRuns: new Map([['t', 0]]), faults: [stop] };
    expect(toInvariants(observed, [], options).violations).toEqual([]);
  });
});

describe('dead letters', () => {
  it.each([
    { state: 'FAILED', stages: ['worker'], ok: true },
    { state: 'FAILED', stages: ['source:worker'], ok: true },
    { state: 'FAILED', stages: ['scheduler'], ok: true },
    { state: 'FAILED', stages: [], ok: false },
    { state: 'FAILED', stages: ['worker', 'source:worker'], ok: false },
    { state: 'FAILED', stages: ['notifier'], ok: false },
    { state: 'REJECTED', stages: ['ingest'], ok: true },
    { state: 'REJECTED', stages: [], ok: false },
    { state: 'REJECTED', stages: ['ingest', 'ingest'], ok: false },
    { state: 'SUCCEEDED', stages: [], ok: true },
    { state: 'SUCCEEDED', stages: ['worker'], ok: false },
    { state: 'CANCELLED', stages: ['worker'], ok: true },
    { state: 'CANCELLED', stages: ['worker', 'worker'], ok: false },
  ])('$state with dead letters from $stages: ok $ok', ({ state, stages, ok }) => {
    const violations = toDeadLetterViolations('t', state, stages.map((stage) => letter('t', stage)));
    expect(violations).toHaveLength(ok ? 0 : 1);
  });

  it('a fake second dead letter of a FAILED task is reported by the whole check, with its stages', () => {
    const observed = observe({ f: 'FAILED', s: 'SUCCEEDED' }, { deadLetters: [letter('f', 'worker'), letter('f', 'source:worker'), letter('unknown', 'source:ingest')] });
    const check = toInvariants(observed, [start('f', 1, 1), start('s', 1, 1)], { taskIds: ['f', 's'] });
    expect(check.violations).toEqual(['f: FAILED with 2 dead letters (stages worker, source:worker), expected exactly one']);
  });

  it('reports an incomplete dead letter', () => {
    const check = toInvariants(observe({}, { deadLetters: [{ taskId: 'x', stage: 'worker' }] }), [], { taskIds: [] });
    expect(check.violations).toEqual(['incomplete dead letter: {"taskId":"x","stage":"worker"}']);
  });
});

describe('toInvariants: states', () => {
  it('reports a lost task, one not terminal, and one in the wrong terminal state', () => {
    const observed = observe({ done: 'SUCCEEDED' });
    const running = finishedTask('open', 'RUNNING');
    const tasks = new Map(observed.tasks).set('open', { ...running, status: { ...running.status!, state: 'RUNNING', stage: 'worker' } });
    const check = toInvariants({ ...observed, tasks }, [start('done', 1, 1)], {
      taskIds: ['done', 'open', 'lost'],
      expectedStates: new Map([['done', 'FAILED']]),
    });
    expect(check.violations).toEqual(['done: ended SUCCEEDED, expected FAILED', 'open: not terminal (RUNNING from worker)', 'lost: no status at all (lost)']);
    expect(check.terminalCount).toBe(1);
  });
});
