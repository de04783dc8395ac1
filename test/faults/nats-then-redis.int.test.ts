// Issue 15, an operator's bad day, several runs in a row on one stack: while 16 clients submit 800
// echo tasks (each with its own idempotency key, retrying on any error as a real client would),
// nats-server (file storage) is SIGKILLed 2.5 s in and restarted on the same store 2 s later;
// 4 s after that redis-server (AOF everysec) is SIGKILLed and restarted on the same data 2 s
// later. Every logical task must map to one task id that ends SUCCEEDED with its own output.
//
// nats-server 2.9 can lose messages that were stored and not yet acked when it is killed
// (docs/reliability.md, "A NATS crash"): those tasks are found and re-driven by the reconciler,
// so this scenario also measures how long after the last fault the last task ends.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { createTaskManagerClient, type TaskManagerClient } from '../../client/client';
import { ALL_CONSUMERS, KEYS, STREAM_EVENTS, STREAM_TASKS } from '../../shared/contract';
import { waitForPort } from '../helpers/ports';
import type { TestStack } from '../helpers/stack';
import { checkInvariants, type Fault } from './invariants';
import { readConsumers } from './probes';
import { startRunCounter, type RunCounter } from './run-counter';
import { describeTasks, mapLimit, readAudit, readStates, RESTART_PROOF_RETRIES, startFaultStack, stopFaultStack, submitUntilAccepted, type Submitted } from './workload';

const TASKS = Number(process.env.TM_FAULT_STRAND_TASKS ?? 800);
const CLIENTS = 16;
const RUNS = Number(process.env.TM_FAULT_STRAND_RUNS ?? 3);
const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED']);
/** The reconciler's bound in this stack: AckWait (5 s) + the longest retry delay (8 s) + 5 s slack. */
const STALE_AFTER_MS = 18_000;
const SWEEP_MS = 1_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a NATS restart followed by a Redis restart while clients submit', () => {
  let stack: TestStack;
  let client: TaskManagerClient;
  let runs: RunCounter;

  beforeAll(async () => {
    stack = await startFaultStack({
      env: { TM_RETRY_DELAYS_MS: RESTART_PROOF_RETRIES },
      processEnv: { scheduler: { TM_RECONCILER_INTERVAL_MS: String(SWEEP_MS) } },
      redis: { appendOnly: true, appendFsync: 'everysec' },
    });
    // The test's own Redis client sees the outages too; its reconnect errors are expected.
    stack.redis.on('error', () => undefined);
    client = createTaskManagerClient({ address: stack.gatewayAddress, deadlineMs: 10_000 });
    runs = await startRunCounter(stack.nc);
  }, 240_000);

  afterAll(async () => {
    await runs?.stop();
    client?.close();
    await stopFaultStack();
  }, 60_000);

  /** Where the work is when tasks do not end: streams, consumers, and a few of the tasks. */
  async function explain(open: readonly string[]): Promise<string> {
    const jsm = await jetstreamManager(stack.nc);
    const streams = await Promise.all([STREAM_TASKS, STREAM_EVENTS].map(async (name) => {
      const info = await jsm.streams.info(name);
      return `${name}: ${info.state.messages} messages, ${info.state.first_seq}..${info.state.last_seq}`;
    }));
    const consumers = await readConsumers(stack.nc, ALL_CONSUMERS);
    return [...streams, JSON.stringify(consumers), await describeTasks(stack.redis, stack.logs, open.slice(0, 3))].join('\n');
  }

  /** SIGKILL and restart nats-server, then redis-server, on the scenario's schedule. */
  async function injectFaults(faults: Fault[]): Promise<void> {
    await sleep(2_500);
    const natsAt = Date.now();
    stack.nats.kill('SIGKILL');
    await sleep(2_000);
    await stack.nats.restart();
    // A killed nats-server can lose an end published just before it (the worker runs it again).
    faults.push({ name: 'nats-server SIGKILL', atMs: natsAt, untilMs: Date.now(), unconfirmedMs: 1_000 });
    await sleep(4_000);
    const redisAt = Date.now();
    stack.redisServer.kill('SIGKILL');
    await sleep(2_000);
    await stack.redisServer.restart();
    await waitForPort(stack.redisServer.port);
    faults.push({ name: 'redis-server SIGKILL', atMs: redisAt, untilMs: Date.now() });
  }

  /** Waits until every task ended; fails when nothing moved for longer than the reconciler needs. */
  async function waitUntilEnded(ids: readonly string[]): Promise<void> {
    let idleSince: number | undefined;
    for (;;) {
      const states = await readStates(stack.redis, ids);
      const open = ids.filter((_, i) => !TERMINAL.has(states[i] ?? ''));
      if (open.length === 0) return;
      const loads = await readConsumers(stack.nc).catch(() => undefined);
      const idle = loads !== undefined && loads.every((load) => load.pending === 0 && load.ackPending === 0);
      idleSince = idle ? (idleSince ?? Date.now()) : undefined;
      // Idle consumers with open tasks: only the reconciler can move them, within its bound.
      if (idleSince !== undefined && Date.now() - idleSince > STALE_AFTER_MS + 10 * SWEEP_MS + 30_000) {
        expect.fail(`${open.length} of ${ids.length} tasks never ended:\n${await explain(open)}`);
      }
      await sleep(250);
    }
  }

  for (let run = 1; run <= RUNS; run += 1) {
    it(`run ${run}: every logical task maps to one task id that ends SUCCEEDED with its own output`, async () => {
      const prefix = `strand-${run}`;
      const results: Submitted[] = [];
      const faults: Fault[] = [];
      const faulting = injectFaults(faults);
      await mapLimit(Array.from({ length: TASKS }, (_, i) => i), CLIENTS, async (i) => {
        results[i] = await submitUntilAccepted(client, { type: 'echo', payload: { prefix, i }, idempotencyKey: `${prefix}-${i}` }, 180_000);
      });
      await faulting;
      const ids = results.map((result) => result.taskId);
      expect(new Set(ids).size, 'one task id per logical task').toBe(TASKS);

      await waitUntilEnded(ids);
      const lastFaultEnd = Math.max(...faults.map((fault) => fault.untilMs ?? fault.atMs));
      const lastEnd = Math.max(...(await Promise.all(ids.map((id) => stack.redis.hget(KEYS.status(id), 'updated_at_ms')))).map(Number));

      const outputs = await Promise.all(ids.map((id) => stack.redis.hget(KEYS.result(id), 'json')));
      outputs.forEach((json, i) => {
        const stored = JSON.parse(json ?? '{}') as { state?: string; output?: string };
        expect({ state: stored.state, output: JSON.parse(stored.output ?? 'null') }, ids[i]).toEqual({ state: 'SUCCEEDED', output: { prefix, i } });
      });
      const check = await checkInvariants(stack.redis, { taskIds: ids, runs, faults, expectedStates: new Map(ids.map((id) => [id, 'SUCCEEDED'])) });
      const broken = [...new Set(check.violations.map((violation) => violation.split(':')[0]!))];
      expect(check.violations, await describeTasks(stack.redis, stack.logs, broken.slice(0, 3))).toEqual([]);

      const redriven = new Set((await readAudit(stack.redis)).filter((entry) => entry.action === 'reconciler.redrive' && ids.includes(entry.taskId)).map((entry) => entry.taskId));
      console.log(
        `[nats-then-redis] run ${run}: ${results.filter((result) => result.failures.length > 0).length} submits retried, ` +
          `${redriven.size} tasks re-driven by the reconciler, last task ended ${((lastEnd - lastFaultEnd) / 1000).toFixed(1)} s after the last fault`,
      );
    }, 600_000);
  }
});
