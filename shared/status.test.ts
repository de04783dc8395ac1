import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_RETENTION_SECONDS, KEYS, TERMINAL_STATES, type StatusUpdate, type TaskStateName } from './contract';
import type { Redis } from './redis';
import { applyStatus, applyTransitions, isNewer, parseStoredStatus, toRank } from './status';

const STATES: TaskStateName[] = [
  'QUEUED',
  'VALIDATED',
  'ENRICHED',
  'SCHEDULED',
  'RUNNING',
  'RETRYING',
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
  'REJECTED',
];

function s(state: TaskStateName, attempt = 0, progress = 0): StatusUpdate {
  return { taskId: 't-1', state, stage: 'test', attempt, message: '', progress, updatedAtMs: 0 };
}

const label = (u: StatusUpdate) => `${u.state}(a${u.attempt},p${u.progress})`;

describe('isNewer', () => {
  const table: Array<[StatusUpdate, StatusUpdate | undefined, boolean]> = [
    [s('QUEUED'), undefined, true],
    [s('RUNNING', 1), undefined, true],
    [s('VALIDATED'), s('QUEUED'), true],
    [s('QUEUED'), s('VALIDATED'), false],
    [s('ENRICHED'), s('VALIDATED'), true],
    [s('SCHEDULED'), s('ENRICHED'), true],
    [s('SCHEDULED'), s('QUEUED'), true],
    [s('RUNNING', 1), s('SCHEDULED'), true],
    [s('SCHEDULED'), s('RUNNING', 1), false],
    [s('QUEUED'), s('QUEUED'), false],
    [s('RUNNING', 1, 40), s('RUNNING', 1, 40), false],
    // progress moves forward within an attempt, never back
    [s('RUNNING', 1, 50), s('RUNNING', 1, 20), true],
    [s('RUNNING', 1, 20), s('RUNNING', 1, 50), false],
    // a retry: RETRYING ends attempt 1, RUNNING of attempt 2 comes after it
    [s('RETRYING', 1), s('RUNNING', 1, 90), true],
    [s('RUNNING', 1, 90), s('RETRYING', 1), false],
    [s('RUNNING', 2), s('RETRYING', 1), true],
    [s('RETRYING', 1), s('RUNNING', 2), false],
    [s('RUNNING', 1, 100), s('RUNNING', 2, 0), false],
    [s('RETRYING', 2), s('RETRYING', 1), true],
    // terminal states end the task
    [s('SUCCEEDED', 2), s('RUNNING', 2, 80), true],
    [s('FAILED', 5), s('RETRYING', 4), true],
    [s('CANCELLED'), s('QUEUED'), true],
    [s('REJECTED'), s('VALIDATED'), true],
    [s('RUNNING', 3), s('SUCCEEDED', 2), false],
    [s('FAILED', 3), s('SUCCEEDED', 2), false],
    [s('SUCCEEDED', 2), s('SUCCEEDED', 2), false],
    [s('SUCCEEDED', 9, 100), s('CANCELLED'), false],
    [s('CANCELLED'), s('FAILED', 5), false],
  ];

  it.each(table.map(([next, current, expected]) => [label(next), current ? label(current) : 'nothing', expected, next, current]))(
    '%s after %s → %s',
    (_n, _c, expected, next, current) => {
      expect(isNewer(next as StatusUpdate, current as StatusUpdate | undefined)).toBe(expected);
    },
  );

  const update = fc
    .record({
      state: fc.constantFrom(...STATES),
      attempt: fc.integer({ min: 0, max: 6 }),
      progress: fc.integer({ min: 0, max: 100 }),
    })
    .map(({ state, attempt, progress }) => s(state, attempt, progress));

  it('nothing is newer than a terminal state', () => {
    fc.assert(
      fc.property(update, update, (next, current) => {
        fc.pre(TERMINAL_STATES.has(current.state));
        return !isNewer(next, current);
      }),
    );
  });

  it('is a strict order: never both ways, and one way for any two different non-terminal ranks', () => {
    fc.assert(
      fc.property(update, update, (a, b) => {
        fc.pre(!TERMINAL_STATES.has(a.state) && !TERMINAL_STATES.has(b.state));
        const ab = isNewer(a, b);
        const ba = isNewer(b, a);
        expect(ab && ba).toBe(false);
        const sameRank =
          toRank(a).phase === toRank(b).phase &&
          toRank(a).sub === toRank(b).sub &&
          a.attempt === b.attempt &&
          a.progress === b.progress;
        expect(ab || ba).toBe(!sameRank);
      }),
    );
  });

  it('is transitive', () => {
    fc.assert(
      fc.property(update, update, update, (a, b, c) => {
        fc.pre(isNewer(a, b) && isNewer(b, c));
        return isNewer(a, c);
      }),
    );
  });

  it('applying any order of updates through isNewer never moves backwards and ends at the newest', () => {
    fc.assert(
      fc.property(fc.array(update, { minLength: 1, maxLength: 30 }), (updates) => {
        let current: StatusUpdate | undefined;
        const accepted: StatusUpdate[] = [];
        for (const next of updates) {
          if (isNewer(next, current)) {
            accepted.push(next);
            current = next;
          }
        }
        for (let i = 1; i < accepted.length; i += 1) expect(isNewer(accepted[i]!, accepted[i - 1]!)).toBe(true);
        const terminal = accepted.findIndex((u) => TERMINAL_STATES.has(u.state));
        if (terminal >= 0) expect(terminal).toBe(accepted.length - 1);
        for (const u of updates) expect(isNewer(u, current)).toBe(false);
      }),
    );
  });
});

describe('toRank', () => {
  it('puts RUNNING and RETRYING in one phase, RETRYING after RUNNING; every terminal state last', () => {
    expect(toRank(s('RUNNING'))).toEqual({ phase: 5, sub: 0 });
    expect(toRank(s('RETRYING'))).toEqual({ phase: 5, sub: 1 });
    const terminalPhases = new Set([...TERMINAL_STATES].map((state) => toRank(s(state)).phase));
    expect(terminalPhases.size).toBe(1);
    const highest = Math.max(...STATES.filter((x) => !TERMINAL_STATES.has(x)).map((x) => toRank(s(x)).phase));
    expect([...terminalPhases][0]).toBeGreaterThan(highest);
  });
});

describe('applyStatus', () => {
  it('calls the Lua script with the keys, the prefixed channel, the task id, the stage, the prefixed index base, the retention, then each transition with its rank, in the documented ARGV order', async () => {
    const script = vi.fn(async () => 4);
    // The client prefixes the KEYS itself; the channel is an ARGV, so applyStatus prefixes it.
    const redis = { applyStatus: script, options: { keyPrefix: 'app1:' } } as unknown as Redis;
    const update: StatusUpdate = { taskId: 't-7', state: 'RETRYING', stage: 'worker', attempt: 2, message: 'boom', progress: 30, updatedAtMs: 123 };
    await expect(applyStatus(redis, update)).resolves.toBe(4);
    const keys = [KEYS.status('t-7'), KEYS.history('t-7'), KEYS.activeTasks, KEYS.task('t-7'), KEYS.tasksExpiring, KEYS.taskAudit('t-7')];
    const head = [...keys, `app1:${KEYS.statusChannel('t-7')}`, 't-7', 'worker', `app1:${KEYS.tasksIndexBase}`, DEFAULT_RETENTION_SECONDS];
    expect(script).toHaveBeenCalledWith(...head, 'RETRYING', 2, 'boom', 30, 123, 5, 1);
    await applyStatus(redis, update, 60);
    expect(script).toHaveBeenLastCalledWith(...head.slice(0, -1), 60, 'RETRYING', 2, 'boom', 30, 123, 5, 1);
    const running = { state: 'RUNNING' as const, attempt: 3, message: '', progress: 0, updatedAtMs: 124 };
    await applyTransitions(redis, 't-7', 'worker', [update, running]);
    expect(script).toHaveBeenLastCalledWith(...head, 'RETRYING', 2, 'boom', 30, 123, 5, 1, 'RUNNING', 3, '', 0, 124, 5, 0);
  });
});

describe('parseStoredStatus', () => {
  it('adds the task id to a history entry', () => {
    const entry = { seq: 2, state: 'VALIDATED', stage: 'ingest', attempt: 0, message: '', progress: 0, updatedAtMs: 5 };
    expect(parseStoredStatus('t-1', JSON.stringify(entry))).toEqual({ ...entry, taskId: 't-1' });
  });
});
