// The reconciler (functions/scheduler/reconciler.ts) on the process stack: a task whose in-flight
// message is deleted from the stream behind the system's back is re-driven to SUCCEEDED; a
// long-running task and a delayed task are left alone; normal load re-drives nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { createTaskManagerClient, type TaskManagerClient } from '../../client/client';
import { CONSUMERS, KEYS, STREAM_TASKS, SUBJECTS } from '../../shared/contract';
import { waitFor } from '../helpers/ports';
import type { TestStack } from '../helpers/stack';
import { checkInvariants } from './invariants';
import { readConsumers } from './probes';
import { startRunCounter, type RunCounter } from './run-counter';
import { mapLimit, readAudit, startFaultStack, stopFaultStack, waitForTerminal } from './workload';

/** Short bounds, so that a stranded task is found within seconds. */
const STALE_AFTER_MS = 3_000;

type Counts = { sweeps: number; redrives: number; failed: number };

describe('the reconciler', () => {
  let stack: TestStack;
  let client: TaskManagerClient;
  let runs: RunCounter;

  beforeAll(async () => {
    stack = await startFaultStack({
      processEnv: {
        scheduler: { TM_RECONCILER_STALE_AFTER_MS: String(STALE_AFTER_MS), TM_RECONCILER_INTERVAL_MS: '500' },
      },
    });
    client = createTaskManagerClient({ address: stack.gatewayAddress });
    runs = await startRunCounter(stack.nc);
  }, 240_000);

  afterAll(async () => {
    await runs?.stop();
    client?.close();
    await stopFaultStack();
  }, 60_000);

  /** The scheduler's reconciler counters, from its GET /metrics. */
  async function readCounts(): Promise<Counts> {
    const text = await (await fetch(`http://127.0.0.1:${stack.ports.scheduler}/metrics`)).text();
    const sum = (name: string) =>
      text
        .split('\n')
        .filter((line) => line.startsWith(name))
        .reduce((total, line) => total + Number(line.split(' ').at(-1)), 0);
    return { sweeps: sum('tm_reconciler_sweeps_total'), redrives: sum('tm_reconciler_redrives_total'), failed: sum('tm_reconciler_failed_total') };
  }

  const redrivesOf = async (taskId: string) =>
    (await readAudit(stack.redis)).filter((entry) => entry.taskId === taskId && entry.action === 'reconciler.redrive');

  it('re-drives nothing under normal load, while it sweeps', async () => {
    const before = await readCounts();
    const ids = await mapLimit(Array.from({ length: 200 }, (_, i) => i), 16, async (i) => (await client.submit({ type: i % 4 ? 'echo' : 'hash', payload: i % 4 ? { i } : { data: `d${i}` } })).taskId);
    await waitForTerminal(stack.redis, ids, 120_000);
    // Long enough for every task to have counted as stale at least once, had it been stuck.
    await waitFor('two more sweeps', async () => (await readCounts()).sweeps >= before.sweeps + Math.ceil(STALE_AFTER_MS / 500) + 2, 30_000, 200);
    const after = await readCounts();
    expect(after.redrives - before.redrives).toBe(0);
    expect(after.failed - before.failed).toBe(0);
    expect((await checkInvariants(stack.redis, { taskIds: ids, runs })).violations).toEqual([]);
  }, 180_000);

  it('re-drives a task whose scheduled event was deleted from the stream, and it succeeds once', async () => {
    const before = await readCounts();
    // No worker source: the scheduled event waits in the stream, where the test deletes it.
    const exitsBefore = stack.supervisor.exits.length;
    stack.supervisor.hold('worker-source');
    stack.supervisor.kill('worker-source', 'SIGTERM');
    await waitFor('the worker source to exit', () => stack.supervisor.exits.slice(exitsBefore).some((exit) => exit.name === 'worker-source'), 60_000, 100);
    let released = false;
    try {
      const { taskId } = await client.submit({ type: 'echo', payload: { stranded: true } });
      await waitFor('the task to be scheduled', async () => (await stack.redis.hget(KEYS.status(taskId), 'state')) === 'SCHEDULED', 30_000, 100);

      const jsm = await jetstreamManager(stack.nc);
      const message = await jsm.streams.getMessage(STREAM_TASKS, { last_by_subj: SUBJECTS.workerMedium });
      expect(message?.subject).toBe(SUBJECTS.workerMedium);
      expect(JSON.parse(new TextDecoder().decode(message!.data)).subject).toBe(taskId);
      expect(await jsm.streams.deleteMessage(STREAM_TASKS, message!.seq)).toBe(true);
      await waitFor('the worker consumer to hold nothing', async () => {
        const [load] = await readConsumers(stack.nc, [CONSUMERS.worker[1]]);
        return load?.pending === 0 && load.ackPending === 0;
      }, 60_000, 200);

      stack.supervisor.release('worker-source');
      released = true;
      await waitForTerminal(stack.redis, [taskId], 60_000);
      expect(await stack.redis.hget(KEYS.status(taskId), 'state')).toBe('SUCCEEDED');
      const stored = JSON.parse((await stack.redis.hget(KEYS.result(taskId), 'json')) ?? '{}') as { output?: string };
      expect(JSON.parse(stored.output ?? 'null')).toEqual({ stranded: true });
      const redrives = await redrivesOf(taskId);
      expect(redrives.map((entry) => entry.detail)).toEqual([expect.stringContaining('SCHEDULED')]);
      expect((await readCounts()).redrives - before.redrives).toBe(1);
      expect((await checkInvariants(stack.redis, { taskIds: [taskId], runs })).violations).toEqual([]);
    } finally {
      if (!released) stack.supervisor.release('worker-source');
    }
  }, 180_000);

  it('leaves alone a task that runs for longer than the bound and a delayed task, and both succeed once', async () => {
    const before = await readCounts();
    const long = await client.submit({ type: 'sleep', payload: { ms: STALE_AFTER_MS * 3 } });
    const delayed = await client.submit({ type: 'echo', payload: { later: true }, delayMs: STALE_AFTER_MS * 3 });
    await waitForTerminal(stack.redis, [long.taskId, delayed.taskId], 120_000);
    expect(await redrivesOf(long.taskId)).toEqual([]);
    expect(await redrivesOf(delayed.taskId)).toEqual([]);
    expect((await readCounts()).redrives - before.redrives).toBe(0);
    const check = await checkInvariants(stack.redis, {
      taskIds: [long.taskId, delayed.taskId],
      runs,
      expectedStates: new Map([[long.taskId, 'SUCCEEDED'], [delayed.taskId, 'SUCCEEDED']]),
    });
    expect(check.violations).toEqual([]);
  }, 180_000);
});
