// Fault scenarios 1 and 6 (issue 3) on the process stack: the worker killed mid-task, the
// worker killed after its result was published but before the source acked, and a worker that
// stays unreachable for longer than the whole retry schedule.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTaskManagerClient, type TaskManagerClient } from '../../client/client';
import { jetstreamManager } from '@nats-io/jetstream';
import { CONSUMERS, KEYS, SUBJECTS, type FinishedData } from '../../shared/contract';
import { EVENT_IDS } from '../../shared/emit';
import { collectEvents } from '../helpers/events';
import { waitFor } from '../helpers/ports';
import type { TestStack } from '../helpers/stack';
import { checkInvariants } from './invariants';
import { startRunCounter, type RunCounter } from './run-counter';
import { describeTasks, readAudit, readDeadLetters, RESTART_PROOF_RETRIES, waitForTerminal, startFaultStack, stopFaultStack } from './workload';
import { waitForConsumersIdle } from './probes';

const ACK_WAIT_MS = 3_000;

describe('worker faults', () => {
  let stack: TestStack;
  let client: TaskManagerClient;
  /** Handler runs as published, a same-attempt repeat included; one per test. */
  let runs: RunCounter;

  beforeAll(async () => {
    stack = await startFaultStack({ env: { TM_RETRY_DELAYS_MS: RESTART_PROOF_RETRIES, TM_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
    client = createTaskManagerClient({ address: stack.gatewayAddress });
  }, 240_000);

  afterAll(async () => {
    client?.close();
    await stopFaultStack();
  }, 60_000);

  beforeEach(async () => {
    runs = await startRunCounter(stack.nc);
  });

  afterEach(async () => {
    await runs?.stop();
  });

  /** Attempts of the task's handler runs, in the order they started. */
  const runAttempts = async (taskId: string) => {
    await runs.flush();
    return runs.ledger().attemptsOf(taskId);
  };

  const stateOf = async (taskId: string) => (await stack.redis.hget(KEYS.status(taskId), 'state')) ?? undefined;
  const storedResult = async (taskId: string) => {
    const [json, attempt] = await stack.redis.hmget(KEYS.result(taskId), 'json', 'attempt');
    return { result: json ? (JSON.parse(json) as { state: string; output: string; attempts: number }) : undefined, attempt: Number(attempt) };
  };
  /** When a redelivery does not come: where the `scheduled` message is, and what the worker
   * and its source said since `sinceLine`. */
  const explainStall = async (taskId: string, sinceLine: number) => {
    const jsm = await jetstreamManager(stack.nc);
    const consumers = await Promise.all(
      CONSUMERS.worker.map(async (c) => {
        const info = await jsm.consumers.info(c.stream, c.durable);
        return (
          `${c.durable}: pending ${info.num_pending}, awaiting ack ${info.num_ack_pending}, redelivered ${info.num_redelivered}, ` +
          `delivered ${info.delivered.stream_seq}, ack floor ${info.ack_floor.stream_seq}, waiting pulls ${info.num_waiting}`
        );
      }),
    );
    const logs = stack.logs.slice(sinceLine).filter((line) => /^\[(worker|worker-source|supervisor)\]/.test(line) || line.includes(taskId));
    return `${consumers.join('\n')}\n${await describeTasks(stack.redis, [], [taskId])}\nlogs since the kill:\n${logs.slice(-60).join('\n')}`;
  };
  /** Rejects like `waiting`, with explainStall's account added. */
  const orExplain = <T>(waiting: Promise<T>, taskId: string, sinceLine: number): Promise<T> =>
    waiting.catch(async (error: unknown) => {
      throw new Error(`${(error as Error).message}\n${await explainStall(taskId, sinceLine)}`);
    });
  /** The first skip of `taskId` audited after the audit list held `auditBefore` entries (it is
   * newest first): the redelivery's. */
  const waitForRedeliverySkip = (taskId: string, auditBefore: number, sinceLine: number) =>
    orExplain(
      waitFor(
        'the redelivery to be skipped',
        async () => {
          const audit = await readAudit(stack.redis);
          return audit.slice(0, audit.length - auditBefore).find((entry) => entry.taskId === taskId && entry.action.startsWith('skipped.'));
        },
        60_000,
      ),
      taskId,
      sinceLine,
    );
  /** A 2 s sleep task, once its handler runs. */
  const startSleepTask = async () => {
    const { taskId } = await client.submit({ type: 'sleep', payload: { ms: 2000 } });
    await waitFor('the task to run', async () => (await stateOf(taskId)) === 'RUNNING');
    return taskId;
  };
  const finishedOf = (events: { subject?: string; data?: unknown }[], taskId: string) =>
    events.filter((event) => event.subject === taskId).map((event) => event.data as FinishedData);

  it('when the worker is SIGKILLed in the middle of a 2 s sleep task, the task is retried and succeeds once, with the retry’s result', async () => {
    const results = collectEvents(stack.nc, SUBJECTS.results);
    const pidBefore = stack.supervisor.pid('worker');
    const taskId = await startSleepTask();
    stack.supervisor.kill('worker', 'SIGKILL');

    await waitForTerminal(stack.redis, [taskId], 60_000);
    await waitForConsumersIdle(stack.nc);
    results.stop();
    expect(await stateOf(taskId)).toBe('SUCCEEDED');
    expect(stack.supervisor.pid('worker')).not.toBe(pidBefore);

    // The killed run never produced a result: exactly one `finished`, from the second run.
    const attempts = await runAttempts(taskId);
    expect(attempts).toHaveLength(2);
    expect(attempts[0]).toBe(1);
    const finished = finishedOf(results.events, taskId);
    expect(finished.map((data) => data.attempts)).toEqual([attempts[1]]);
    const { result, attempt } = await storedResult(taskId);
    expect(result).toMatchObject({ state: 'SUCCEEDED', attempts: attempts[1] });
    expect(JSON.parse(result!.output)).toEqual({ slept: 2000 });
    expect(attempt).toBe(attempts[1]);

    const check = await checkInvariants(stack.redis, { taskIds: [taskId], runs, expectedRuns: new Map([[taskId, 2]]) });
    expect(check.violations).toEqual([]);
  }, 90_000);

  it('when the worker dies after publishing its result but before the source acked, the redelivery finds the result and does not run the handler again', async () => {
    const taskId = await startSleepTask();
    // A stopped source cannot ack: whatever the worker answers, the delivery stays unacked.
    stack.supervisor.kill('worker-source', 'SIGSTOP');
    const results = collectEvents(stack.nc, SUBJECTS.results);
    await waitFor('the worker to publish its result', () => finishedOf(results.events, taskId).length > 0, 30_000);
    const sinceKill = stack.logs.length;
    const auditBefore = (await readAudit(stack.redis)).length;
    stack.supervisor.kill('worker', 'SIGKILL');
    stack.supervisor.kill('worker-source', 'SIGKILL');

    // JetStream redelivers `scheduled` after AckWait; the restarted worker sees SUCCEEDED. (The
    // redelivery's count need not be 2: after a source crash JetStream can repeat a count.)
    const skipped = await waitForRedeliverySkip(taskId, auditBefore, sinceKill);
    await waitForConsumersIdle(stack.nc);
    results.stop();
    expect(skipped.action).toBe('skipped.succeeded');
    expect(await stateOf(taskId)).toBe('SUCCEEDED');
    expect(await runAttempts(taskId)).toEqual([1]);
    expect(finishedOf(results.events, taskId).map((data) => data.attempts)).toEqual([1]);
    expect((await storedResult(taskId)).attempt).toBe(1);

    const check = await checkInvariants(stack.redis, { taskIds: [taskId], runs });
    expect(check.violations).toEqual([]);
  }, 90_000);

  it('when the worker dies after publishing its result before the result was stored, the redelivery finds the run’s outcome and does not run it again; the stored result is that run’s, with one terminal status', async () => {
    const taskId = await startSleepTask();
    // The result-store is slow (stopped): the status cannot tell the redelivery that the run
    // finished; the worker's record of the attempt's outcome does.
    stack.supervisor.kill('result-store-source', 'SIGSTOP');
    stack.supervisor.kill('worker-source', 'SIGSTOP');
    const results = collectEvents(stack.nc, SUBJECTS.results);
    try {
      await waitFor('the first result', () => finishedOf(results.events, taskId).length > 0, 30_000);
      // After the side effect: the run has published `finished` and recorded that it ended.
      // (A worker killed between the two is the one window where the task runs twice.)
      await waitFor('the run to record its outcome', async () => (await stack.redis.exists(KEYS.processed('worker', `${EVENT_IDS.scheduled(taskId)}:ended`))) === 1);
      const sinceKill = stack.logs.length;
      const auditBefore = (await readAudit(stack.redis)).length;
      stack.supervisor.kill('worker', 'SIGKILL');
      stack.supervisor.kill('worker-source', 'SIGKILL');
      expect((await waitForRedeliverySkip(taskId, auditBefore, sinceKill)).action).toBe('skipped.duplicate');
      expect(await stateOf(taskId)).toBe('RUNNING');
    } finally {
      // Also when a wait above failed: nothing is left stopped for the next test.
      stack.supervisor.kill('worker-source', 'SIGCONT');
      stack.supervisor.kill('result-store-source', 'SIGCONT');
    }

    await waitForTerminal(stack.redis, [taskId], 60_000);
    await waitForConsumersIdle(stack.nc);
    results.stop();
    expect(await runAttempts(taskId)).toEqual([1]);
    expect(finishedOf(results.events, taskId).map((data) => data.attempts)).toEqual([1]);
    const { result, attempt } = await storedResult(taskId);
    expect(attempt).toBe(1);
    expect(result).toMatchObject({ state: 'SUCCEEDED', attempts: 1 });
    expect(await stateOf(taskId)).toBe('SUCCEEDED');

    const check = await checkInvariants(stack.redis, { taskIds: [taskId], runs });
    expect(check.violations).toEqual([]);
  }, 120_000);

  it('when the worker and its source both die in the middle of a task, the dead run’s hold lapses and the redelivery runs the task again, once', async () => {
    const taskId = await startSleepTask();
    // The source holding the delivery is stopped; halfway through the sleep the worker and then
    // the source die. The dead run's hold on the task lapses (no renewal) and the redelivery runs
    // it, whatever count JetStream gives it (after a source crash it can repeat one).
    stack.supervisor.kill('worker-source', 'SIGSTOP');
    await waitFor('the run to be halfway', async () => Number(await stack.redis.hget(KEYS.status(taskId), 'progress')) >= 50);
    const sinceKill = stack.logs.length;
    stack.supervisor.kill('worker', 'SIGKILL');
    stack.supervisor.kill('worker-source', 'SIGKILL');

    await orExplain(waitForTerminal(stack.redis, [taskId], 60_000), taskId, sinceKill);
    await waitForConsumersIdle(stack.nc);
    expect(await stateOf(taskId)).toBe('SUCCEEDED');
    const attempts = await runAttempts(taskId);
    expect(attempts).toHaveLength(2);
    const { result, attempt } = await storedResult(taskId);
    expect(result).toMatchObject({ state: 'SUCCEEDED', attempts: attempts[1] });
    expect(attempt).toBe(attempts[1]);
    const check = await checkInvariants(stack.redis, { taskIds: [taskId], runs, expectedRuns: new Map([[taskId, 2]]) });
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
    expect(await runAttempts(taskId)).toEqual([]);
    const check = await checkInvariants(stack.redis, { taskIds: [taskId], runs, expectedStates: new Map([[taskId, 'FAILED']]), expectedRuns: new Map([[taskId, 0]]) });
    expect(check.violations).toEqual([]);

    // Back again: once it answers, the next task goes through.
    await waitFor('the worker to be back', () => fetch(`http://127.0.0.1:${stack.ports.worker}/health/readiness`).then((r) => r.ok, () => false), 60_000);
    const next = await client.submit({ type: 'echo', payload: { after: true } });
    expect((await client.waitForResult(next.taskId)).state).toBe('SUCCEEDED');
  }, 120_000);
});
