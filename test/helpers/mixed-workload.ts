// The mixed workload the end-to-end tests submit: every built-in task type, tasks that succeed,
// retry, fail for good and are rejected, each with the terminal state, output and number of
// handler runs it must end with.
import { createHash } from 'node:crypto';

export type ExpectedTask = {
  type: string;
  payload: unknown;
  state: 'SUCCEEDED' | 'FAILED' | 'REJECTED';
  output?: unknown;
  /** How many times the handler must have run. */
  runs: number;
};

/** `count` tasks in a repeating mix of ten: 3 echo, 2 hash, 1 sleep, 1 flaky, 1 fail, and 2 rejected (an unknown type, a sleep with a bad payload). */
export function mixedWorkload(count: number): ExpectedTask[] {
  const tasks: ExpectedTask[] = [];
  for (let i = 0; i < count; i += 1) {
    const kind = i % 10;
    if (kind <= 2) tasks.push({ type: 'echo', payload: { i, text: `hello ${i}` }, state: 'SUCCEEDED', output: { i, text: `hello ${i}` }, runs: 1 });
    else if (kind <= 4) {
      const data = `data-${i}`;
      tasks.push({ type: 'hash', payload: { data }, state: 'SUCCEEDED', output: createHash('sha256').update(data).digest('hex'), runs: 1 });
    } else if (kind === 5) tasks.push({ type: 'sleep', payload: { ms: 20 + (i % 5) * 20 }, state: 'SUCCEEDED', output: { slept: 20 + (i % 5) * 20 }, runs: 1 });
    else if (kind === 6) tasks.push({ type: 'flaky', payload: { failures: 2 }, state: 'SUCCEEDED', runs: 3 });
    else if (kind === 7) tasks.push({ type: 'fail', payload: { message: `boom ${i}` }, state: 'FAILED', runs: 5 });
    else if (kind === 8) tasks.push({ type: 'no-such-type', payload: {}, state: 'REJECTED', runs: 0 });
    else tasks.push({ type: 'sleep', payload: { ms: 'soon' }, state: 'REJECTED', runs: 0 });
  }
  return tasks;
}
