// PauseQueue, ResumeQueue and GetQueueStats end to end on the process stack (real NATS, Redis,
// gRPC, sources and functions): pausing worker.medium under load stops medium tasks from starting
// while high ones run, across a SIGKILL of the worker's source and of the gateway; the queue stats match JetStream's
// own consumer state; after resuming every medium task runs once. Only operator tenants may.
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskManagerClient, type TaskManagerClient } from '../../client/client';
import { KEYS, STREAM_TASKS } from '../../shared/contract';
import { waitForTerminal, readStates } from '../faults/workload';
import { waitFor } from '../helpers/ports';
import { startTestStack, type TestStack } from '../helpers/stack';
import { runTm } from '../helpers/tm';

const OPS_KEY = randomBytes(16).toString('hex');
const GLOBEX_KEY = randomBytes(16).toString('hex');

type SourceHealth = { pausesKnown: boolean; consumers: Record<string, { paused: boolean; inFlight: number; held: number }> };

describe('pausing a queue on the running stack', () => {
  let stack: TestStack;
  let ops: TaskManagerClient;
  let globex: TaskManagerClient;

  const workerSource = async (): Promise<SourceHealth> =>
    (await (await fetch(`http://127.0.0.1:${stack.ports['worker-source']}/healthz`)).json()) as SourceHealth;
  const tm = (args: string[], key = OPS_KEY) => runTm([...args, '--json'], { TM_ADDRESS: stack.gatewayAddress, TM_TOKEN: key });
  /** Tasks that have started a handler: RUNNING, or any state only a run reaches. */
  const started = async (ids: readonly string[]) =>
    (await readStates(stack.redis, ids)).filter((state) => state === 'RUNNING' || state === 'RETRYING' || state === 'SUCCEEDED' || state === 'FAILED').length;

  beforeAll(async () => {
    stack = await startTestStack({
      env: { TM_API_KEYS: `ops:${OPS_KEY},globex:${GLOBEX_KEY}`, TM_OPERATOR_TENANTS: 'ops', TM_QUEUE_STATS_CACHE_MS: '0' },
    });
    ops = createTaskManagerClient({ address: stack.gatewayAddress, token: OPS_KEY });
    globex = createTaskManagerClient({ address: stack.gatewayAddress, token: GLOBEX_KEY });
  }, 120_000);

  afterAll(async () => {
    ops?.close();
    globex?.close();
    await stack?.stop();
  }, 60_000);

  it('a tenant that is not an operator may not pause, resume or see the queues', async () => {
    await expect(globex.pauseQueue('worker.medium')).rejects.toThrow(/PERMISSION_DENIED.*TM_OPERATOR_TENANTS/);
    await expect(globex.resumeQueue('worker.medium')).rejects.toThrow(/PERMISSION_DENIED/);
    const stats = await globex.getQueueStats();
    expect(stats).toMatchObject({ queues: [], delayed: 0, deadLetters: 0, deadLetterCap: 100_000 });
    await expect(ops.pauseQueue('worker.mediun')).rejects.toThrow(/INVALID_ARGUMENT: queue: unknown queue "worker.mediun"/);
    expect((await ops.getQueueStats()).queues.every((queue) => !queue.paused)).toBe(true);
  });

  it('no medium task starts while worker.medium is paused, high ones run, in-flight work finishes, source and gateway restarts keep the pause, resume runs each once', async () => {
    // In flight when the pause comes: these finish.
    const running = await Promise.all(Array.from({ length: 4 }, () => ops.submit({ type: 'sleep', payload: '{"ms":1500}' }).then((r) => r.taskId)));
    await waitFor('the first medium tasks to run', async () => ((await started(running)) === running.length) || undefined, 30_000);

    const paused = await tm(['pause', 'worker.medium']);
    expect(paused.code, paused.stderr).toBe(0);
    expect(JSON.parse(paused.stdout)).toEqual({ queue: 'worker.medium', paused: true });
    await waitFor('the worker source to hold worker.medium', async () => (await workerSource()).consumers['worker-medium']?.paused || undefined, 10_000);

    const medium = await Promise.all(Array.from({ length: 30 }, (_v, i) => ops.submit({ type: 'echo', payload: `{"m":${i}}` }).then((r) => r.taskId)));
    const high = await Promise.all(Array.from({ length: 20 }, (_v, i) => ops.submit({ type: 'echo', payload: `{"h":${i}}`, priority: 'high' }).then((r) => r.taskId)));
    await waitForTerminal(stack.redis, [...high, ...running], 60_000);
    expect(await readStates(stack.redis, running)).toEqual(running.map(() => 'SUCCEEDED'));
    await waitFor('every medium task to be scheduled', async () => (await readStates(stack.redis, medium)).every((state) => state === 'SCHEDULED') || undefined, 20_000);
    expect(await started(medium)).toBe(0);

    // What GetQueueStats says is what JetStream holds: 30 waiting, nothing delivered.
    const jsm = await jetstreamManager(stack.nc);
    const info = await jsm.consumers.info(STREAM_TASKS, 'worker-medium');
    const stats = await ops.getQueueStats();
    const workerMedium = stats.queues.find((queue) => queue.queue === 'worker.medium');
    expect(workerMedium).toMatchObject({ pending: info.num_pending, inFlight: info.num_ack_pending, paused: true });
    expect(workerMedium).toMatchObject({ pending: 30, inFlight: 0 });
    expect(workerMedium!.oldestPendingAgeMs).toBeGreaterThan(0);
    expect(stats.queues.filter((queue) => queue.paused).map((queue) => queue.queue)).toEqual(['worker.medium']);
    const cli = await tm(['stats']);
    expect((JSON.parse(cli.stdout) as { queues: { queue: string; paused: boolean }[] }).queues.find((queue) => queue.paused)?.queue).toBe('worker.medium');

    // A source that starts again while its queue is paused starts paused.
    const before = stack.supervisor.pid('worker-source');
    stack.supervisor.kill('worker-source', 'SIGKILL');
    await waitFor('the worker source to come back paused', async () => {
      if (stack.supervisor.pid('worker-source') === before) return undefined;
      const health = await workerSource().catch(() => undefined);
      return (health?.pausesKnown && health.consumers['worker-medium']?.paused) || undefined;
    }, 20_000);
    // The gateway keeps no pause state of its own: restarted, it reads the same.
    const gatewayBefore = stack.supervisor.pid('gateway');
    stack.supervisor.kill('gateway', 'SIGKILL');
    const afterRestart = await waitFor('the gateway to answer again', async () => {
      if (stack.supervisor.pid('gateway') === gatewayBefore) return undefined;
      return ops.getQueueStats().catch(() => undefined);
    }, 30_000);
    expect(afterRestart.queues.filter((queue) => queue.paused).map((queue) => queue.queue)).toEqual(['worker.medium']);
    const later = await Promise.all(Array.from({ length: 5 }, () => ops.submit({ type: 'echo', payload: '{}', priority: 'high' }).then((r) => r.taskId)));
    await waitForTerminal(stack.redis, later, 30_000);
    expect(await started(medium)).toBe(0);

    const resumed = await tm(['resume', 'worker.medium']);
    expect(JSON.parse(resumed.stdout)).toEqual({ queue: 'worker.medium', paused: false });
    await waitForTerminal(stack.redis, medium, 60_000);
    expect(await readStates(stack.redis, medium)).toEqual(medium.map(() => 'SUCCEEDED'));
    // Each ran once: one RUNNING in its history, attempt 1 (nothing was redelivered).
    for (const taskId of medium) {
      const history = (await stack.redis.lrange(KEYS.history(taskId), 0, -1)).map((entry) => JSON.parse(entry) as { state: string; attempt: number });
      expect(history.filter((entry) => entry.state === 'RUNNING').map((entry) => entry.attempt), taskId).toEqual([1]);
    }
    expect((await ops.getQueueStats()).queues.every((queue) => !queue.paused)).toBe(true);
  }, 240_000);
});
