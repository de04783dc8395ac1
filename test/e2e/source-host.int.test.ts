// Every source in one process, as `npm start` runs them (source/host.ts): one NATS connection for
// all seven, each still with its own consumers, sink and /healthz. The process SIGKILLed in the
// middle of a run takes every source down at once; the supervisor restarts it and every task
// still ends in its one right terminal state, with one dead letter for each that failed for good.
// On SIGTERM it drains every source, then the connection, and exits 0.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskManagerClient, type SubmitInput, type TaskManagerClient } from '../../client/client';
import { SOURCE_HOST_NAME, sourceName } from '../../scripts/local-stack';
import { FUNCTIONS } from '../../shared/topology';
import { waitFor } from '../helpers/ports';
import { startTestStack, type TestStack } from '../helpers/stack';
import { mapLimit, readDeadLetters, readStates, waitForTerminal } from '../faults/workload';

const TASKS = 300;

type Planned = { input: SubmitInput; state: 'SUCCEEDED' | 'FAILED' | 'REJECTED' };

function plan(count: number): Planned[] {
  return Array.from({ length: count }, (_, i): Planned => {
    if (i % 20 === 7) return { input: { type: 'fail', payload: { message: `boom ${i}` }, maxAttempts: 2 }, state: 'FAILED' };
    if (i % 20 === 13) return { input: { type: 'no-such-type', payload: { i } }, state: 'REJECTED' };
    return { input: { type: 'echo', payload: { i } }, state: 'SUCCEEDED' };
  });
}

async function healthOf(port: number | undefined): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('every source in one process', () => {
  let stack: TestStack;
  let client: TaskManagerClient;

  beforeAll(async () => {
    stack = await startTestStack({ hostSources: true, env: { TM_METRICS: 'prometheus' } });
    client = createTaskManagerClient({ address: stack.gatewayAddress });
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await stack?.stop();
  }, 60_000);

  it('runs as one process, and each hosted source answers /healthz on its own port', async () => {
    const names = stack.specs.map((spec) => spec.name);
    expect(names).toContain(SOURCE_HOST_NAME);
    expect(names.filter((name) => name.endsWith('-source'))).toEqual([]);
    for (const fn of FUNCTIONS.filter((f) => f.consumers.length > 0)) {
      const health = await healthOf(stack.ports[sourceName(fn)]);
      expect(health.status, fn.name).toBe(200);
      expect(JSON.stringify(health.body), fn.name).toContain(fn.consumers[0]!.durable);
    }
  });

  it("serves the process's OpenTelemetry series once, on the first source's /metrics, and each source's own series on its port", async () => {
    const { taskId } = await client.submit({ type: 'echo', payload: { metrics: true } });
    await waitForTerminal(stack.redis, [taskId], 30_000);
    const sourced = FUNCTIONS.filter((f) => f.consumers.length > 0);
    const texts = await Promise.all(sourced.map(async (fn) => (await fetch(`http://127.0.0.1:${stack.ports[sourceName(fn)]}/metrics`)).text()));
    const withProcessSeries = sourced.filter((_, i) => texts[i]!.includes('messaging_process_duration_bucket')).map((fn) => fn.name);
    expect(withProcessSeries).toEqual([sourced[0]!.name]);
    // The first one's cover every hosted source: the worker's consumer is there too.
    expect(texts[0]).toMatch(/messaging_client_consumed_messages_total\{[^}]*messaging_consumer_group_name="worker-medium"/);
    sourced.forEach((fn, i) => expect(texts[i], fn.name).toContain(`tm_source_deliveries_total{function="${fn.name}"`));
  });

  it(`SIGKILLed during a ${TASKS}-task run, it is restarted and every task ends in its right state`, async () => {
    const planned = plan(TASKS);
    const ids: string[] = [];
    const submit = (from: number, to: number) =>
      mapLimit(planned.slice(from, to), 16, async (task, offset) => {
        ids[from + offset] = (await client.submit(task.input)).taskId;
      });
    await submit(0, TASKS / 2);
    // Some tasks are done and some in flight: the kill lands in the middle of the pipeline.
    await waitFor('a first task to end', async () => (await readStates(stack.redis, ids)).includes('SUCCEEDED'), 30_000, 20);
    stack.supervisor.kill(SOURCE_HOST_NAME, 'SIGKILL');
    await submit(TASKS / 2, TASKS);
    await waitFor('the sources to be restarted', async () => stack.supervisor.restarts(SOURCE_HOST_NAME) > 0, 30_000, 50);
    await waitForTerminal(stack.redis, ids, 90_000);

    const states = await readStates(stack.redis, ids);
    const wrong = planned.flatMap((task, i) => (states[i] === task.state ? [] : [`${ids[i]} ${task.input.type}: ${states[i]} (want ${task.state})`]));
    expect(wrong).toEqual([]);
    const deadLetters = await readDeadLetters(stack.redis);
    const mustFail = new Set(ids.filter((_, i) => planned[i]!.state !== 'SUCCEEDED'));
    const lettered = deadLetters.filter((entry) => mustFail.has(entry.taskId)).map((entry) => entry.taskId);
    expect(lettered.sort()).toEqual([...mustFail].sort());
    expect(stack.supervisor.restarts(SOURCE_HOST_NAME)).toBe(1);
  }, 180_000);

  it('on SIGTERM drains every hosted source, closes the shared connection and exits 0 (last: it stops the stack)', async () => {
    // Work in flight at every stage when the stop comes.
    await mapLimit(Array.from({ length: 40 }, (_, i) => i), 16, (i) => client.submit({ type: 'sleep', payload: { ms: 200 + i } }));
    const exits = await stack.supervisor.stop(20_000);
    const host = exits.find((exit) => exit.name === SOURCE_HOST_NAME);
    expect(host).toMatchObject({ code: 0, signal: null });
    expect(host!.atMs - host!.termAtMs!).toBeLessThan(20_000);
  }, 60_000);
});
