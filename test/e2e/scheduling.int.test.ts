// Scheduling on the process stack: strict priority when the worker is saturated, delayed tasks
// that wait for their time, and cancellation before and during a run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskManagerClient, type TaskManagerClient } from '../../client/client';
import { KEYS } from '../../shared/contract';
import { waitFor } from '../helpers/ports';
import { startTestStack, type TestStack } from '../helpers/stack';

async function handlerStarts(stack: TestStack): Promise<string[]> {
  // audit_events is LPUSHed: newest first. Reverse for the order in which handlers started.
  const entries = (await stack.redis.lrange(KEYS.auditEvents, 0, -1)).map((e) => JSON.parse(e) as { taskId: string; action: string });
  return entries.reverse().filter((e) => e.action === 'handler.started').map((e) => e.taskId);
}

describe('scheduling', () => {
  let stack: TestStack;
  let client: TaskManagerClient;

  beforeAll(async () => {
    // One delivery at a time to the worker, so it is easy to saturate.
    stack = await startTestStack({ processEnv: { 'worker-source': { TM_SOURCE_MAX_IN_FLIGHT: '1' } } });
    client = createTaskManagerClient({ address: stack.gatewayAddress });
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await stack?.stop();
  }, 60_000);

  it('with the worker saturated by queued low-priority tasks, high-priority tasks submitted afterwards run before them', async () => {
    // The blocker holds the worker's only slot while the others queue up behind it; it is
    // cancelled once every task is queued for the worker, which frees the slot (a fixed-length
    // blocker could end before the high-priority tasks were queued on a loaded machine).
    const blocker = await client.submit({ type: 'sleep', payload: { ms: 60_000 }, priority: 'low' });
    await waitFor('the blocker to run', async () => (await client.getTask(blocker.taskId)).status?.state === 'RUNNING');
    const allScheduled = async (ids: string[]) => {
      const states = await Promise.all(ids.map(async (id) => (await client.getTask(id)).status?.state));
      return states.every((state) => state === 'SCHEDULED');
    };
    const lows: string[] = [];
    for (let i = 0; i < 8; i += 1) lows.push((await client.submit({ type: 'sleep', payload: { ms: 50 }, priority: 'low' })).taskId);
    await waitFor('every low task to be queued for the worker', () => allScheduled(lows));
    const highs: string[] = [];
    for (let i = 0; i < 4; i += 1) highs.push((await client.submit({ type: 'sleep', payload: { ms: 50 }, priority: 'high' })).taskId);
    await waitFor('every high task to be queued for the worker', () => allScheduled(highs));
    expect((await client.getTask(blocker.taskId)).status?.state, 'the worker must still be saturated').toBe('RUNNING');
    expect((await client.cancel(blocker.taskId)).state).toBe('CANCELLED');

    const results = await Promise.all([...lows, ...highs].map((id) => client.waitForResult(id)));
    expect(results.every((r) => r.state === 'SUCCEEDED')).toBe(true);

    const order = await handlerStarts(stack);
    const lastHigh = Math.max(...highs.map((id) => order.indexOf(id)));
    const firstLow = Math.min(...lows.map((id) => order.indexOf(id)));
    expect(highs.every((id) => order.includes(id))).toBe(true);
    expect(lastHigh).toBeLessThan(firstLow);
  }, 60_000);

  it('a delayed task does not start before its time', async () => {
    const { taskId } = await client.submit({ type: 'echo', payload: { later: true }, delayMs: 2000 });
    const scheduled = await waitFor('the task to be scheduled', async () => {
      const task = await client.getTask(taskId);
      return task.status?.state === 'SCHEDULED' ? task : undefined;
    });
    expect(scheduled.status?.message).toMatch(/delayed until/);
    const result = await client.waitForResult(taskId);
    expect(result.state).toBe('SUCCEEDED');
    const task = await client.getTask(taskId);
    const running = task.history.find((u) => u.state === 'RUNNING');
    expect(running).toBeDefined();
    expect(running!.updatedAtMs).toBeGreaterThanOrEqual(task.createdAtMs + 2000);
  });

  it('a task cancelled before it starts never runs', async () => {
    const { taskId } = await client.submit({ type: 'echo', payload: { never: true }, delayMs: 1000 });
    expect((await client.cancel(taskId)).state).toBe('CANCELLED');
    // Let the promoter move it on, then push a marker through the same queue behind it.
    await waitFor('the promoter to release it', async () => {
      const queued = await stack.redis.zscore(KEYS.delayedQueue, taskId);
      const leased = await stack.redis.zscore(KEYS.delayedLeases, taskId);
      return queued === null && leased === null;
    });
    const marker = await client.submit({ type: 'echo', payload: { marker: true } });
    expect((await client.waitForResult(marker.taskId)).state).toBe('SUCCEEDED');
    expect(await handlerStarts(stack)).not.toContain(taskId);
    expect((await client.getTask(taskId)).status?.state).toBe('CANCELLED');
    await expect(client.cancel(taskId)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
  });

  it('a running task that is cancelled is aborted through its signal', async () => {
    const { taskId } = await client.submit({ type: 'sleep', payload: { ms: 60_000 }, priority: 'high' });
    await waitFor('the task to run', async () => (await client.getTask(taskId)).status?.state === 'RUNNING');
    expect((await client.cancel(taskId)).state).toBe('CANCELLED');
    // The worker gives up on the handler and reports a CANCELLED result long before 60 s.
    const stored = await waitFor('the worker to report the aborted run', async () => {
      const json = await stack.redis.hget(KEYS.result(taskId), 'json');
      return json ? (JSON.parse(json) as { state: string }) : undefined;
    }, 20_000);
    expect(stored.state).toBe('CANCELLED');
    expect((await client.getTask(taskId)).status?.state).toBe('CANCELLED');
  }, 40_000);
});
