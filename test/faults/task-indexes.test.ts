// The index checker's pure part with made-up observations: a consistent set passes; a task left
// under the state it came from, missing from its new one, listed in another tenant's index, or a
// terminal task left in the active-task index must each be reported with the task's id.
import { describe, expect, it } from 'vitest';
import { KEYS } from '../../shared/contract';
import { toIndexViolations, type IndexEntry, type IndexedTask, type ObservedIndexes } from './task-indexes';

const TASKS: IndexedTask[] = [
  { taskId: 'a1', tenant: 'acme', type: 'echo' },
  { taskId: 'a2', tenant: 'acme', type: 'fail' },
  { taskId: 'g1', tenant: 'globex', type: 'echo' },
];
const STATES: Record<string, string> = { a1: 'SUCCEEDED', a2: 'FAILED', g1: 'RUNNING' };
const CREATED: Record<string, number> = { a1: 100, a2: 200, g1: 300 };

const entries = (...ids: string[]): IndexEntry[] => ids.map((member) => ({ member, score: CREATED[member]! }));

/** Every index as the status script leaves it, then `change` applied to a copy. */
function observe(change: (indexes: Map<string, IndexEntry[]>, active: Map<string, string | undefined>) => void = () => undefined): ObservedIndexes {
  const indexes = new Map<string, IndexEntry[]>([
    [KEYS.tasksByTime('acme'), entries('a1', 'a2')],
    [KEYS.tasksByType('acme', 'echo'), entries('a1')],
    [KEYS.tasksByType('acme', 'fail'), entries('a2')],
    [KEYS.tasksByState('acme', 'SUCCEEDED'), entries('a1')],
    [KEYS.tasksByState('acme', 'FAILED'), entries('a2')],
    [KEYS.tasksByState('acme', 'RUNNING'), []],
    [KEYS.tasksByTime('globex'), entries('g1')],
    [KEYS.tasksByType('globex', 'echo'), entries('g1')],
    [KEYS.tasksByState('globex', 'RUNNING'), entries('g1')],
  ]);
  const active = new Map<string, string | undefined>([['g1', 'RUNNING']]);
  change(indexes, active);
  return {
    tasks: new Map(TASKS.map((task) => [task.taskId, { state: STATES[task.taskId], createdAtMs: CREATED[task.taskId]! }])),
    indexes,
    active,
    expiring: ['acme\techo\tSUCCEEDED\ta1', 'acme\tfail\tFAILED\ta2'],
  };
}

describe('toIndexViolations', () => {
  it('finds nothing when every task is listed under exactly its state', () => {
    expect(toIndexViolations(observe(), TASKS)).toEqual([]);
  });

  it('reports a task still listed under the state it left (the move cut in two)', () => {
    const observed = observe((indexes) => indexes.set(KEYS.tasksByState('acme', 'RUNNING'), entries('a1')));
    expect(toIndexViolations(observed, TASKS)).toEqual(['a1: SUCCEEDED, but listed under [SUCCEEDED, RUNNING] of tenant acme']);
  });

  it('reports a task missing from the index of its current state', () => {
    const observed = observe((indexes) => indexes.set(KEYS.tasksByState('acme', 'FAILED'), []));
    expect(toIndexViolations(observed, TASKS)).toEqual(['a2: FAILED, but listed under [] of tenant acme']);
  });

  it("reports a task in another tenant's index, and one the scenario does not know", () => {
    const observed = observe((indexes) => indexes.set(KEYS.tasksByState('globex', 'RUNNING'), [...entries('g1', 'a1'), { member: 'x', score: 1 }]));
    expect(toIndexViolations(observed, TASKS)).toEqual([
      `a1: of tenant acme, but in ${KEYS.tasksByState('globex', 'RUNNING')}`,
      `${KEYS.tasksByState('globex', 'RUNNING')}: holds x, not a task of this scenario`,
    ]);
  });

  it('reports a wrong score, a missing type entry and a terminal task in the active-task index', () => {
    const observed = observe((indexes, active) => {
      indexes.set(KEYS.tasksByState('acme', 'FAILED'), [{ member: 'a2', score: 1 }]);
      indexes.set(KEYS.tasksByType('acme', 'echo'), []);
      active.set('a1', 'SUCCEEDED');
      active.delete('g1');
    });
    expect(toIndexViolations(observed, TASKS)).toEqual([
      `a2: scored 1 in ${KEYS.tasksByState('acme', 'FAILED')}, created at 200`,
      `a1: missing from ${KEYS.tasksByType('acme', 'echo')}`,
      'g1: RUNNING, but missing from the active-task index',
      'a1: in the active-task index, but SUCCEEDED',
    ]);
  });

  it('reports a terminal task whose expiring entry names another state (the sweep would leave it listed)', () => {
    const observed = { ...observe(), expiring: ['acme\techo\tRUNNING\ta1', 'acme\tfail\tFAILED\ta2'] };
    expect(toIndexViolations(observed, TASKS)).toEqual([
      'a1: SUCCEEDED, expiring entries ["acme\\techo\\tRUNNING\\ta1"], expected ["acme\\techo\\tSUCCEEDED\\ta1"]',
    ]);
  });
});
