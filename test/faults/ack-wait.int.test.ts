// Fault scenarios 7 and 8 (issue 3) on the process stack with two worker replicas, each fed by
// its own source on the same durable consumers (as Knative scales the worker out): a task that
// runs longer than AckWait is not handed to the second worker while it is alive; a worker
// SIGSTOPped past AckWait loses its task to the other one, and its late result, once it is
// SIGCONTed, does not overwrite the newer outcome.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTaskManagerClient, type TaskManagerClient } from '../../client/client';
import { KEYS, SUBJECTS, type FinishedData } from '../../shared/contract';
import { readHistory } from '../../shared/status';
import { collectEvents } from '../helpers/events';
import { waitFor } from '../helpers/ports';
import { replicaName, type TestStack } from '../helpers/stack';
import { checkInvariants } from './invariants';
import { startRunCounter, type RunCounter } from './run-counter';
import { readSourceGauges, waitForTerminal, startFaultStack, stopFaultStack } from './workload';
import { waitForConsumersIdle } from './probes';

const ACK_WAIT_MS = 2_000;
const PAIRS = [
  { worker: 'worker', source: 'worker-source' },
  { worker: replicaName('worker', 2), source: replicaName('worker-source', 2) },
];

/** Deliveries a source has made from the worker consumers, from its /metrics. */
async function workerDeliveries(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('tm_source_deliveries_total{'))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

describe('tasks that outlive AckWait, with two workers', () => {
  let stack: TestStack;
  let client: TaskManagerClient;

  beforeAll(async () => {
    // A stopped source's waiting pulls expire (1 s) before AckWait, so a redelivery goes to the
    // live replica rather than into the stopped one.
    const polls = { TM_SOURCE_POLL_EXPIRES_MS: '1000' };
    stack = await startFaultStack({
      env: { TM_ACK_WAIT_MS: String(ACK_WAIT_MS) },
      processEnv: { 'worker-source': polls },
      extraReplicas: { worker: 1 },
    });
    client = createTaskManagerClient({ address: stack.gatewayAddress });
  }, 240_000);

  afterAll(async () => {
    client?.close();
    await stopFaultStack();
  }, 60_000);

  /** Handler runs as published, a same-attempt repeat included; one per test. */
  let runs: RunCounter;
  beforeEach(async () => {
    runs = await startRunCounter(stack.nc);
  });
  afterEach(async () => {
    await runs?.stop();
  });
  const runAttempts = async (taskId: string) => {
    await runs.flush();
    return runs.ledger().attemptsOf(taskId);
  };

  const deliveriesNow = () => Promise.all(PAIRS.map((pair) => workerDeliveries(stack.ports[pair.source]!)));

  it('a task running three times AckWait is delivered once and runs once while a second worker waits idle', async () => {
    const before = await deliveriesNow();
    const { taskId } = await client.submit({ type: 'sleep', payload: { ms: 3 * ACK_WAIT_MS } });
    await waitForTerminal(stack.redis, [taskId], 60_000);
    await waitForConsumersIdle(stack.nc);

    const after = await deliveriesNow();
    const delivered = after.map((count, i) => count - before[i]!);
    expect(delivered.reduce((a, b) => a + b, 0), `deliveries per worker source: ${delivered.join(', ')}`).toBe(1);
    expect(await runAttempts(taskId)).toEqual([1]);
    const history = await readHistory(stack.redis, taskId);
    expect(history.every((entry) => entry.attempt <= 1)).toBe(true);
    expect(history.at(-1)!.state).toBe('SUCCEEDED');
    const check = await checkInvariants(stack.redis, { taskIds: [taskId], runs });
    expect(check.violations).toEqual([]);
  }, 90_000);

  it('a worker SIGSTOPped past AckWait loses the task to the other worker; after SIGCONT its late result does not overwrite the newer outcome', async () => {
    const { taskId } = await client.submit({ type: 'sleep', payload: { ms: 2 * ACK_WAIT_MS } });
    await waitFor('the task to run', async () => (await stack.redis.hget(KEYS.status(taskId), 'state')) === 'RUNNING');
    const inFlight = await Promise.all(PAIRS.map((pair) => readSourceGauges(stack.ports[pair.source]!).then((gauges) => gauges.inFlight)));
    const stalled = PAIRS[inFlight.indexOf(1)]!;
    expect(inFlight.filter((count) => count === 1)).toHaveLength(1);

    const results = collectEvents(stack.nc, SUBJECTS.results);
    const stoppedAtMs = Date.now();
    stack.supervisor.kill(stalled.worker, 'SIGSTOP');
    stack.supervisor.kill(stalled.source, 'SIGSTOP');
    let newer: { state?: string | null; attempt?: string | null };
    try {
      await waitForTerminal(stack.redis, [taskId], 60_000);
      const [state, attempt] = await stack.redis.hmget(KEYS.status(taskId), 'state', 'attempt');
      newer = { state, attempt };
    } finally {
      stack.supervisor.kill(stalled.worker, 'SIGCONT');
      stack.supervisor.kill(stalled.source, 'SIGCONT');
    }
    expect(newer.state).toBe('SUCCEEDED');
    const secondAttempt = Number(newer.attempt);
    expect(secondAttempt).toBeGreaterThanOrEqual(2);
    expect(Number(await stack.redis.hget(KEYS.result(taskId), 'attempt'))).toBe(secondAttempt);

    // The stalled worker wakes up, finishes attempt 1 and publishes its (late) result.
    const late = await waitFor('the late result of attempt 1', () =>
      results.events.map((event) => event.data as FinishedData).find((data) => data.task.taskId === taskId && data.attempts === 1),
    );
    expect(late.state).toBe('SUCCEEDED');
    await waitForConsumersIdle(stack.nc);
    results.stop();

    // The newer outcome stands: result and status are the second attempt's.
    const stored = JSON.parse((await stack.redis.hget(KEYS.result(taskId), 'json'))!) as { attempts: number };
    expect(stored.attempts).toBe(secondAttempt);
    expect(Number(await stack.redis.hget(KEYS.result(taskId), 'attempt'))).toBe(secondAttempt);
    expect(await stack.redis.hmget(KEYS.status(taskId), 'state', 'attempt')).toEqual(['SUCCEEDED', String(secondAttempt)]);
    expect(await runAttempts(taskId)).toEqual([1, secondAttempt]);
    const check = await checkInvariants(stack.redis, { taskIds: [taskId], runs, faults: [{ name: `${stalled.worker} SIGSTOP past AckWait`, atMs: stoppedAtMs }] });
    expect([...check.touched.keys()]).toEqual([taskId]);
    expect(check.violations).toEqual([]);
  }, 90_000);
});
