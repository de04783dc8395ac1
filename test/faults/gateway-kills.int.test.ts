// Fault scenario 3 (issue 3) on the process stack: the gateway SIGKILLed while clients submit
// (retries with the same idempotency key create no second task, every accepted task ends
// terminal) and while 200 clients stream status (each resumes from the last seq it saw and
// misses nothing).
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTaskManagerClient, type StatusUpdate, type TaskManagerClient } from '../../client/client';
import { KEYS } from '../../shared/contract';
import { readHistory } from '../../shared/status';
import { waitFor } from '../helpers/ports';
import { keysMatching } from '../helpers/redis-keys';
import type { TestStack } from '../helpers/stack';
import { checkInvariants } from './invariants';
import { startRunCounter, type RunCounter } from './run-counter';
import { mapLimit, statusSubscriptions, submitUntilAccepted, type Submitted, waitForTerminal, startFaultStack, stopFaultStack } from './workload';
import { waitForConsumersIdle } from './probes';

const SUBMITS = 300;
const WATCHERS = 200;

describe('SIGKILL of the gateway', () => {
  let stack: TestStack;
  let client: TaskManagerClient;

  beforeAll(async () => {
    stack = await startFaultStack({
      processEnv: {
        // Every watched task runs at once, so streams are mid-way when the gateway dies.
        'worker-source': { TM_SOURCE_MAX_IN_FLIGHT: String(WATCHERS) },
      },
    });
    client = createTaskManagerClient({ address: stack.gatewayAddress, deadlineMs: 10_000 });
  }, 240_000);

  afterAll(async () => {
    client?.close();
    await stopFaultStack();
  }, 60_000);

  /** Handler runs as published, a same-attempt repeat included; one per test. The gateway holds
   * no run, so its kill allows no second one. */
  let runs: RunCounter;
  beforeEach(async () => {
    runs = await startRunCounter(stack.nc);
  });
  afterEach(async () => {
    await runs?.stop();
  });

  const waitForGateway = (pidBefore: number | undefined) =>
    waitFor('the gateway to be back', () => {
      const pid = stack.supervisor.pid('gateway');
      return pid !== undefined && pid !== pidBefore;
    }, 60_000);

  it('while clients are submitting: every submit that returned an id ends terminal, and retries with the same key create no second task', async () => {
    const results: Submitted[] = new Array<Submitted>(SUBMITS);
    let accepted = 0;
    const submitting = mapLimit(Array.from({ length: SUBMITS }, (_, i) => i), 20, async (i) => {
      results[i] = await submitUntilAccepted(client, { type: 'echo', payload: { i }, idempotencyKey: `gateway-kill-${i}` });
      accepted += 1;
    });
    await waitFor('a third of the submits to be accepted', () => accepted >= SUBMITS / 3, 120_000);
    const pid = stack.supervisor.pid('gateway');
    stack.supervisor.kill('gateway', 'SIGKILL');
    await waitForGateway(pid);
    await submitting;

    const interrupted = results.filter((result) => result.failures.length > 0);
    expect(interrupted.length, 'some submits were in flight when the gateway died').toBeGreaterThan(0);
    const ids = results.map((result) => result.taskId);
    expect(new Set(ids).size).toBe(SUBMITS);
    await waitForTerminal(stack.redis, ids, 120_000);
    await waitForConsumersIdle(stack.nc);

    // One task per key: each stored key points at an id a client holds, and no other task exists.
    // (Key names come from the contract; listing them by prefix keeps this test out of tenancy.)
    const keyNames = await keysMatching(stack.redis, 'idempotency:*');
    expect(keyNames).toHaveLength(SUBMITS);
    expect((await stack.redis.mget(...keyNames)).sort()).toEqual([...ids].sort());
    const taskKeys = await keysMatching(stack.redis, KEYS.task('*'));
    expect(taskKeys.sort()).toEqual(ids.map((id) => KEYS.task(id)).sort());
    const check = await checkInvariants(stack.redis, {
      taskIds: ids,
      runs,
      expectedStates: new Map(ids.map((id) => [id, 'SUCCEEDED'])),
    });
    expect(runs.ledger().taskIds().filter((id) => !ids.includes(id))).toEqual([]);
    expect(check.violations).toEqual([]);
    const duplicates = results.filter((result) => result.duplicate).length;
    console.log(
      `[gateway-kills] ${interrupted.length} of ${SUBMITS} submits were retried ` +
        `(${interrupted.flatMap((r) => r.failures).length} failures); ${duplicates} retries found the task their first try created`,
    );
  }, 240_000);

  it('while 200 clients stream status: each resumes from the last seq it saw and misses nothing (1..n with afterSeq 0, current state first otherwise)', async () => {
    const ids = await mapLimit(Array.from({ length: WATCHERS }, (_, i) => i), 20, async (i) =>
      (await client.submit({ type: 'sleep', payload: { ms: 4000 }, idempotencyKey: `watched-${i}` })).taskId,
    );
    const clients = ids.map(() =>
      createTaskManagerClient({ address: stack.gatewayAddress, watchRetry: { retries: 40, initialDelayMs: 100, maxDelayMs: 1_000 } }),
    );
    const seen: StatusUpdate[][] = ids.map(() => []);
    try {
      const watching = ids.map(async (id, i) => {
        const options = i % 2 === 0 ? { afterSeq: 0 } : {};
        for await (const update of clients[i]!.watch(id, options)) seen[i]!.push(update);
      });
      await waitFor('every client to be streaming', () => seen.every((updates) => updates.length > 0), 120_000);
      const openAtKill = seen.filter((updates) => !['SUCCEEDED', 'FAILED'].includes(updates.at(-1)!.state)).length;
      const pid = stack.supervisor.pid('gateway');
      stack.supervisor.kill('gateway', 'SIGKILL');
      await waitForGateway(pid);
      await Promise.all(watching);
      expect(openAtKill, 'streams still open when the gateway died').toBeGreaterThan(WATCHERS / 2);
    } finally {
      for (const watcher of clients) watcher.close();
    }

    await waitForConsumersIdle(stack.nc);
    for (const [i, id] of ids.entries()) {
      const seqs = seen[i]!.map((update) => update.seq);
      const stored = (await readHistory(stack.redis, id)).map((entry) => entry.seq);
      const first = i % 2 === 0 ? 1 : seqs[0]!;
      expect(first).toBeGreaterThanOrEqual(1);
      // Contiguous from where the stream started up to the last stored change: nothing missed.
      expect(seqs, id).toEqual(stored.slice(first - 1));
      expect(seen[i]!.at(-1)!.state, id).toBe('SUCCEEDED');
    }
    expect(stack.supervisor.restarts('gateway')).toBe(2);
    // The restarted gateway holds no subscription for streams that ended.
    await waitFor('no status subscriptions left', async () => (await statusSubscriptions(stack.redis)).length === 0, 10_000);

    const check = await checkInvariants(stack.redis, { taskIds: ids, runs, expectedStates: new Map(ids.map((id) => [id, 'SUCCEEDED'])) });
    expect(check.violations).toEqual([]);
  }, 240_000);
});
