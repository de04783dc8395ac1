// Fault scenarios 1 and 6 (issue 3) on the process stack: the worker killed mid-task, the
// worker killed after its result was published but before the source acked, and a worker that
// stays unreachable for longer than the whole retry schedule.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskManagerClient, type TaskManagerClient } from '../../client/client';
import { KEYS, SUBJECTS, type FinishedData } from '../../shared/contract';
import { collectEvents } from '../helpers/events';
import { waitFor } from '../helpers/ports';
import type { TestStack } from '../helpers/stack';
import { checkInvariants } from './invariants';
import { readAudit, readDeadLetters, RESTART_PROOF_RETRIES, toRunAttempts, waitForTerminal, startFaultStack, stopFaultStack } from './workload';
import { waitForConsumersIdle } from './probes';

const ACK_WAIT_MS = 3_000;

describe('worker faults', () => {
  let stack: TestStack;
  let client: TaskManagerClient;

  beforeAll(async () => {
    stack = await startFaultStack({ env: { TM_RETRY_DELAYS_MS: RESTART_PROOF_RETRIES, TM_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
    client = createTaskManagerClient({ address: stack.gatewayAddress });
  }, 240_000);

  afterAll(async () => {
    client?.close();
    await stopFaultStack();
  }, 60_000);

  const stateOf = async (taskId: string) => (await stack.redis.hget(KEYS.status(taskId), 'state')) ?? undefined;
  const storedResult = async (taskId: string) => {
    const [json, attempt] = await stack.redis.hmget(KEYS.result(taskId), 'json', 'attempt');
    return { result: json ? (JSON.parse(json) as { state: string; output: string; attempts: number }) : undefined, attempt: Number(attempt) };
  };
  const finishedOf = (events: { subject?: string; data?: unknown }[], taskId: string) =>
    events.filter((event) => event.subject === taskId).map((event) => event.data as FinishedData);

  it('when the worker is SIGKILLed in the middle of a 2 s sleep task, the task is retried and succeeds once, with the retry’s result', async () => {
    const results = collectEvents(stack.nc, SUBJECTS.results);
    const pidBefore = stack.supervisor.pid('worker');
    const { taskId } = await client.submit({ type: 'sleep', payload: { ms: 2000 } });
    await waitFor('the task to run', async () => (await stateOf(taskId)) === 'RUNNING');
    stack.supervisor.kill('worker', 'SIGKILL');

    await waitForTerminal(stack.redis, [taskId], 60_000);
    await waitForConsumersIdle(stack.nc);
    results.stop();
    expect(await stateOf(taskId)).toBe('SUCCEEDED');
    expect(stack.supervisor.pid('worker')).not.toBe(pidBefore);

    // The killed run never produced a result: exactly one `finished`, from the second run.
    const runs = toRunAttempts(await readAudit(stack.redis)).get(taskId) ?? [];
    expect(runs).toHaveLength(2);
    expect(runs[0]).toBe(1);
    const finished = finishedOf(results.events, taskId);
    expect(finished.map((data) => data.attempts)).toEqual([runs[1]]);
    const { result, attempt } = await storedResult(taskId);
    expect(result).toMatchObject({ state: 'SUCCEEDED', attempts: runs[1] });
    expect(JSON.parse(result!.output)).toEqual({ slept: 2000 });
    expect(attempt).toBe(runs[1]);

    const check = await checkInvariants(stack.redis, { taskIds: [taskId], expectedRuns: new Map([[taskId, 2]]) });
    expect(check.violations).toEqual([]);
  }, 90_000);

  it('when the worker dies after publishing its result but before the source acked, the redelivery finds the result and does not run the handler again', async () => {
    const { taskId } = await client.submit({ type: 'sleep', payload: { ms: 2000 } });
    await waitFor('the task to run', async () => (await stateOf(taskId)) === 'RUNNING');
    // A stopped source cannot ack: whatever the worker answers, the delivery stays unacked.
    stack.supervisor.kill('worker-source', 'SIGSTOP');
    const results = collectEvents(stack.nc, SUBJECTS.results);
    await waitFor('the worker to publish its result', () => finishedOf(results.events, taskId).length > 0, 30_000);
    stack.supervisor.kill('worker', 'SIGKILL');
    stack.supervisor.kill('worker-source', 'SIGKILL');

    // JetStream redelivers `scheduled` after AckWait (delivery 2 or later); the restarted worker
    // sees SUCCEEDED. (A second copy of the event, which a loaded scheduler may publish, comes as
    // a first delivery and is skipped the same way: it is not the redelivery looked for here.)
    const skipped = await waitFor(
      'the redelivery to be skipped',
      async () =>
        (await readAudit(stack.redis)).find((entry) => entry.taskId === taskId && entry.action === 'skipped.succeeded' && entry.attempt >= 2),
      60_000,
    );
    await waitForConsumersIdle(stack.nc);
    results.stop();
    expect(skipped.attempt).toBeGreaterThanOrEqual(2);
    expect(await stateOf(taskId)).toBe('SUCCEEDED');
    expect(toRunAttempts(await readAudit(stack.redis)).get(taskId)).toEqual([1]);
    expect(finishedOf(results.events, taskId).map((data) => data.attempts)).toEqual([1]);
    expect((await storedResult(taskId)).attempt).toBe(1);

    const check = await checkInvariants(stack.redis, { taskIds: [taskId] });
    expect(check.violations).toEqual([]);
  }, 90_000);

  it('when the worker dies after publishing its result before the result was stored, the task runs again and the stored result is the last run’s, with one terminal status', async () => {
    const { taskId } = await client.submit({ type: 'sleep', payload: { ms: 2000 } });
    await waitFor('the task to run', async () => (await stateOf(taskId)) === 'RUNNING');
    // The result-store is slow (stopped): the redelivery cannot know the first run finished.
    stack.supervisor.kill('result-store-source', 'SIGSTOP');
    stack.supervisor.kill('worker-source', 'SIGSTOP');
    const results = collectEvents(stack.nc, SUBJECTS.results);
    try {
      await waitFor('the first result', () => finishedOf(results.events, taskId).length > 0, 30_000);
      stack.supervisor.kill('worker', 'SIGKILL');
      stack.supervisor.kill('worker-source', 'SIGKILL');
      await waitFor('the second run’s result', () => finishedOf(results.events, taskId).length > 1, 60_000);
    } finally {
      stack.supervisor.kill('result-store-source', 'SIGCONT');
    }

    await waitForTerminal(stack.redis, [taskId], 60_000);
    await waitForConsumersIdle(stack.nc);
    results.stop();
    const runs = toRunAttempts(await readAudit(stack.redis)).get(taskId) ?? [];
    expect(runs).toHaveLength(2);
    const last = runs[1]!;
    expect(finishedOf(results.events, taskId).map((data) => data.attempts)).toEqual([1, last]);
    const { result, attempt } = await storedResult(taskId);
    expect(attempt).toBe(last);
    expect(result).toMatchObject({ state: 'SUCCEEDED', attempts: last });
    expect(await stateOf(taskId)).toBe('SUCCEEDED');

    const check = await checkInvariants(stack.redis, { taskIds: [taskId], mayRunTwice: new Set([taskId]) });
    expect(check.violations).toEqual([]);
  }, 120_000);

  it('when the worker stays unreachable for longer than the whole retry schedule, the task ends FAILED with an undeliverable dead letter, and work resumes once it is back', async () => {
    stack.supervisor.hold('worker');
    stack.supervisor.kill('worker', 'SIGKILL');
    let taskId: string;
    try {
      await waitFor('the worker port to close', async () => {
        const up = await fetch(`http://127.0.0.1:${stack.ports.worker}/health/readiness`).then(() => true, () => false);
        return !up;
      });
      taskId = (await client.submit({ type: 'echo', payload: { lonely: true } })).taskId;
      await waitForTerminal(stack.redis, [taskId], 60_000);
    } finally {
      stack.supervisor.release('worker');
    }
    await waitForConsumersIdle(stack.nc);

    expect(await stateOf(taskId)).toBe('FAILED');
    const letters = (await readDeadLetters(stack.redis)).filter((letter) => letter.taskId === taskId);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ stage: 'source:worker', attempts: 5 });
    expect(letters[0]!.reason).toMatch(/undeliverable to worker after 5 attempts: connection refused/);
    const task = await client.getTask(taskId);
    expect(task.status?.message).toMatch(/undeliverable/);
    expect(toRunAttempts(await readAudit(stack.redis)).get(taskId)).toBeUndefined();
    const check = await checkInvariants(stack.redis, { taskIds: [taskId], expectedStates: new Map([[taskId, 'FAILED']]) });
    expect(check.violations).toEqual([]);

    // Back again: once it answers, the next task goes through.
    await waitFor('the worker to be back', () => fetch(`http://127.0.0.1:${stack.ports.worker}/health/readiness`).then((r) => r.ok, () => false), 60_000);
    const next = await client.submit({ type: 'echo', payload: { after: true } });
    expect((await client.waitForResult(next.taskId)).state).toBe('SUCCEEDED');
  }, 120_000);
});
