// Fault scenarios 4 and 5 (issue 3) on the process stack: nats-server (file storage) SIGKILLed
// while clients publish, then restarted; redis-server (AOF on) restarted during a run; Redis
// unreachable for 10 s. Accepted tasks are never lost, retries with the same idempotency key
// create no second task, and in-flight work is retried until the server is back.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTaskManagerClient, TaskManagerClientError, type TaskManagerClient } from '../../client/client';
import { KEYS } from '../../shared/contract';
import { waitFor, waitForPort } from '../helpers/ports';
import { keysMatching } from '../helpers/redis-keys';
import type { TestStack } from '../helpers/stack';
import { checkInvariants, type Fault } from './invariants';
import { startRunCounter, type RunCounter } from './run-counter';
import { describeTasks, mapLimit, readAudit, RESTART_PROOF_RETRIES, submitUntilAccepted, type Submitted, waitForTerminal, startFaultStack, stopFaultStack } from './workload';
import { waitForConsumersIdle } from './probes';

const SUBMITS = 240;
/** How long a stage may wait for a PubAck in practice (a loaded machine): a run whose end it
 * published this shortly before nats-server was killed may have lost it and run again. */
const PUBLISH_IN_FLIGHT_MS = 1_000;

describe('NATS and Redis faults', () => {
  let stack: TestStack;
  let client: TaskManagerClient;

  beforeAll(async () => {
    stack = await startFaultStack({
      env: { TM_RETRY_DELAYS_MS: RESTART_PROOF_RETRIES },
      redis: { appendOnly: true, appendFsync: 'always' },
    });
    // The test's own Redis client sees the outages too; its reconnect errors are expected.
    stack.redis.on('error', () => undefined);
    client = createTaskManagerClient({ address: stack.gatewayAddress, deadlineMs: 10_000 });
  }, 240_000);

  afterAll(async () => {
    client?.close();
    await stopFaultStack();
  }, 60_000);

  /** Handler runs as published (a same-attempt repeat included), from before each workload. */
  let runs: RunCounter;
  beforeEach(async () => {
    runs = await startRunCounter(stack.nc);
  });
  afterEach(async () => {
    await runs?.stop();
  });

  /** Submits `count` echo tasks, 20 at a time, retrying with the same key; runs `fault` once a
   * third of them were accepted. */
  async function submitThrough(prefix: string, count: number, fault: () => Promise<void>): Promise<Submitted[]> {
    const results: Submitted[] = new Array<Submitted>(count);
    let accepted = 0;
    // The fault starts the moment a third are accepted, not at the next poll: the gateway takes
    // about a thousand submits a second, so a poll could find every submit already done.
    let thirdAccepted!: () => void;
    const third = new Promise<void>((resolve) => (thirdAccepted = resolve));
    const submitting = mapLimit(Array.from({ length: count }, (_, i) => i), 20, async (i) => {
      results[i] = await submitUntilAccepted(client, { type: 'echo', payload: { prefix, i }, idempotencyKey: `${prefix}-${i}` }, 120_000);
      accepted += 1;
      if (accepted >= count / 3) thirdAccepted();
    });
    await Promise.race([third, submitting]);
    await fault();
    await submitting;
    return results;
  }

  /** Every accepted task is terminal and SUCCEEDED once (twice only if `fault` touched it), its
   * key points at it. */
  async function assertNothingLost(prefix: string, results: Submitted[], fault: Fault): Promise<void> {
    const ids = results.map((result) => result.taskId);
    expect(new Set(ids).size).toBe(results.length);
    await waitForTerminal(stack.redis, ids, 180_000);
    await waitForConsumersIdle(stack.nc);
    const keyNames = await keysMatching(stack.redis, `idempotency:*${prefix}-*`);
    expect(keyNames).toHaveLength(results.length);
    expect((await stack.redis.mget(...keyNames)).sort()).toEqual([...ids].sort());
    for (const id of ids) expect(await stack.redis.hget(KEYS.task(id), 'task_id'), id).toBe(id);
    const check = await checkInvariants(stack.redis, { taskIds: ids, runs, faults: [fault], expectedStates: new Map(ids.map((id) => [id, 'SUCCEEDED'])) });
    const broken = [...new Set(check.violations.map((violation) => violation.split(':')[0]!))];
    expect(check.violations, await describeTasks(stack.redis, stack.logs, broken.slice(0, 3))).toEqual([]);
    const blind = runs.blind.map((window) => `${(window.toMs ?? NaN) - window.fromMs} ms`);
    console.log(`[server-faults] ${fault.name}: ${check.touched.size} tasks touched; the run counter was away ${blind.join(', ') || 'never'}`);
  }

  it('nats-server SIGKILLed while clients publish and restarted: every accepted task ends SUCCEEDED once, retried submits create no second task', async () => {
    const ranBefore = new Set((await readAudit(stack.redis)).map((entry) => entry.taskId));
    const fault: Fault = { name: 'nats-server SIGKILL', atMs: 0, unconfirmedMs: PUBLISH_IN_FLIGHT_MS };
    const results = await submitThrough('nats-kill', SUBMITS, async () => {
      fault.atMs = Date.now();
      stack.nats.kill('SIGKILL');
      await waitFor('clients to see NATS gone', async () => {
        const error = await client.submit({ type: 'echo', payload: {} }).then(() => undefined, (e: unknown) => e);
        return error instanceof TaskManagerClientError && error.code === 'UNAVAILABLE';
      });
      await stack.nats.restart();
      fault.untilMs = Date.now();
    });
    const interrupted = results.filter((result) => result.failures.length > 0);
    expect(interrupted.length, 'some submits failed while NATS was down').toBeGreaterThan(0);
    console.log(`[server-faults] NATS kill: ${interrupted.length} of ${SUBMITS} submits retried, ${results.filter((r) => r.duplicate).length} found their first try's task`);
    await assertNothingLost('nats-kill', results, fault);
    // No stray task ran: a publish whose PubAck was lost must not run next to its retry.
    const ids = new Set(results.map((result) => result.taskId));
    const ran = [...runs.ledger().taskIds(), ...(await readAudit(stack.redis)).filter((entry) => entry.action === 'handler.started').map((entry) => entry.taskId)];
    expect([...new Set(ran)].filter((id) => !ids.has(id) && !ranBefore.has(id))).toEqual([]);
  }, 300_000);

  it('redis-server (AOF, fsync always) restarted during a run: every accepted task ends SUCCEEDED once with its data intact', async () => {
    const fault: Fault = { name: 'redis-server restart', atMs: 0 };
    const results = await submitThrough('redis-restart', SUBMITS, async () => {
      fault.atMs = Date.now();
      await stack.redisServer.restart();
      fault.untilMs = Date.now();
    });
    await assertNothingLost('redis-restart', results, fault);
  }, 300_000);

  it('Redis unreachable for 10 s: submits get UNAVAILABLE meanwhile, and tasks in flight are retried, not lost', async () => {
    // In flight when Redis goes: long enough to still be running, or queued behind each other.
    const inFlight = await mapLimit(Array.from({ length: 40 }, (_, i) => i), 20, async (i) =>
      (await client.submit({ type: i % 2 ? 'sleep' : 'echo', payload: i % 2 ? { ms: 3000 } : { i } })).taskId,
    );
    await waitFor('some tasks to run', async () => (await readAudit(stack.redis)).some((entry) => inFlight.includes(entry.taskId) && entry.action === 'handler.started'));

    const fault: Fault = { name: 'Redis unreachable', atMs: Date.now() };
    stack.redisServer.kill('SIGKILL');
    const refused: string[] = [];
    const downUntil = Date.now() + 10_000;
    // Clients keep trying for the whole outage; every answer must be a clean UNAVAILABLE.
    for (let i = 0; Date.now() < downUntil; i += 1) {
      const error = await client.submit({ type: 'echo', payload: { i }, idempotencyKey: `during-outage-${i}` }).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(TaskManagerClientError);
      expect((error as TaskManagerClientError).code).toBe('UNAVAILABLE');
      refused.push(`during-outage-${i}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await stack.redisServer.restart();
    await waitForPort(stack.redisServer.port);
    fault.untilMs = Date.now();
    expect(refused.length).toBeGreaterThan(0);
    console.log(`[server-faults] Redis outage: ${refused.length} submits answered UNAVAILABLE`);

    await waitForTerminal(stack.redis, inFlight, 180_000);
    await waitForConsumersIdle(stack.nc);
    const check = await checkInvariants(stack.redis, { taskIds: inFlight, runs, faults: [fault], expectedStates: new Map(inFlight.map((id) => [id, 'SUCCEEDED'])) });
    expect(check.violations).toEqual([]);
    console.log(`[server-faults] ${fault.name}: ${check.touched.size} of ${inFlight.length} tasks touched`);
    // Refused submits left nothing behind.
    const leftovers = await Promise.all(refused.map((key) => keysMatching(stack.redis, `idempotency:*${key}`)));
    expect(leftovers.flat()).toEqual([]);
    // And the service is back.
    const after = await submitUntilAccepted(client, { type: 'echo', payload: { after: true }, idempotencyKey: 'after-outage' });
    expect((await client.waitForResult(after.taskId)).state).toBe('SUCCEEDED');
  }, 300_000);
});
