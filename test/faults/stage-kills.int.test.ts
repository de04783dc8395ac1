// Fault scenario 2 (issue 3) on the process stack: during one run of 2,000 tasks, every function
// other than the worker (scenario 1) and every source is SIGKILLed, one at a time, spread
// through the run; the supervisor restarts each. Every task still ends in its one right terminal
// state, and handlers run once, except for deliveries the killed worker-source had in flight
// (running when it died, or sent just before and started a little later). The other victims sit
// before or after the worker and hold no run: a second run after their kill is a bug.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskManagerClient, type SubmitInput, type TaskManagerClient } from '../../client/client';
import { KEYS } from '../../shared/contract';
import { findFunction } from '../../shared/topology';
import { waitFor } from '../helpers/ports';
import type { TestStack } from '../helpers/stack';
import { checkInvariants, type Fault } from './invariants';
import { startRunCounter } from './run-counter';
import { describeTasks, mapLimit, readDeadLetters, readStates, RESTART_PROOF_RETRIES, statusSubscriptions, waitForTerminal, startFaultStack, stopFaultStack } from './workload';
import { readConsumers, waitForConsumersIdle } from './probes';

const TERMINAL = ['SUCCEEDED', 'FAILED', 'REJECTED', 'CANCELLED'];

/** Scale down with TM_FAULT_TASKS on a slow machine (the report says what was used). */
const TASKS = Number(process.env.TM_FAULT_TASKS ?? 2000);

/** How late a delivery sent before a kill may still start its handler. */
const REQUEST_IN_TRANSIT_MS = 5_000;

const FUNCTIONS_KILLED = ['ingest', 'enricher', 'scheduler', 'result-store', 'notifier', 'audit', 'deadletter'];
const SOURCES_KILLED = ['ingest-source', 'scheduler-source', 'worker-source', 'result-store-source', 'notifier-source', 'audit-source', 'deadletter-source'];
/** Alternating function and source, so every stage loses both halves at different times. */
const VICTIMS = FUNCTIONS_KILLED.flatMap((fn, i) => [fn, SOURCES_KILLED[i]!]);

type Planned = { input: SubmitInput; state: 'SUCCEEDED' | 'FAILED' | 'REJECTED'; runs: number };

/** Mostly echo; every 50th a task that fails twice for good and every 50th an unknown type,
 * so the dead-letter stage has work while it is being killed. */
function plan(count: number): Planned[] {
  return Array.from({ length: count }, (_, i): Planned => {
    if (i % 50 === 17) return { input: { type: 'fail', payload: { message: `boom ${i}` }, maxAttempts: 2 }, state: 'FAILED', runs: 2 };
    if (i % 50 === 33) return { input: { type: 'no-such-type', payload: { i } }, state: 'REJECTED', runs: 0 };
    return { input: { type: 'echo', payload: { i } }, state: 'SUCCEEDED', runs: 1 };
  });
}

function readRssMiB(pid: number | undefined): number {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Math.round(Number(match[1]) / 1024) : NaN;
  } catch {
    return NaN;
  }
}

describe('SIGKILL of every other function and every source during a run', () => {
  let stack: TestStack;
  let client: TaskManagerClient;

  beforeAll(async () => {
    stack = await startFaultStack({ env: { TM_RETRY_DELAYS_MS: RESTART_PROOF_RETRIES, ...(process.env.TM_FAULT_LOG_LEVEL ? { LOG_LEVEL: process.env.TM_FAULT_LOG_LEVEL } : {}) } });
    client = createTaskManagerClient({ address: stack.gatewayAddress });
  }, 240_000);

  afterAll(async () => {
    client?.close();
    await stopFaultStack();
  }, 60_000);

  const healthUrl = (name: string) =>
    `http://127.0.0.1:${stack.ports[name]}${name.endsWith('-source') ? '/healthz' : '/health/readiness'}`;

  it(`with each of 14 processes SIGKILLed in turn during a ${TASKS}-task run, every task ends in its one right terminal state and handlers run once`, async () => {
    const redisClientsBefore = Number(/connected_clients:(\d+)/.exec(await stack.redis.info('clients'))?.[1]);
    const counter = await startRunCounter(stack.nc);
    const planned = plan(TASKS);
    const ids: string[] = new Array<string>(TASKS);
    const submit = (from: number, to: number) =>
      mapLimit(planned.slice(from, to), 32, async (task, offset) => {
        ids[from + offset] = (await client.submit(task.input)).taskId;
      });
    const terminalIn = async (from: number, to: number) =>
      (await readStates(stack.redis, ids.slice(from, to).filter(Boolean))).filter((state) => TERMINAL.includes(state ?? '')).length;

    // The run is paced by the kills, so that every kill lands in the middle of work: a chunk of
    // tasks goes in, its first tenth ends terminal (the rest is spread over every stage), one
    // victim is SIGKILLed and the test waits until it is back (new pid, healthy) before the next.
    const chunk = Math.ceil(TASKS / (VICTIMS.length + 1));
    const kills: { name: string; atMs: number; openInChunk: number }[] = [];
    for (const [i, name] of VICTIMS.entries()) {
      const [from, to] = [i * chunk, Math.min((i + 1) * chunk, TASKS)];
      const submitting = submit(from, to);
      await waitFor(`a tenth of chunk ${i} to end before killing ${name}`, async () => (await terminalIn(from, to)) >= (to - from) / 10, 240_000, 100);
      const pid = stack.supervisor.pid(name);
      const atMs = Date.now();
      stack.supervisor.kill(name, 'SIGKILL');
      kills.push({ name, atMs, openInChunk: to - from - (await terminalIn(from, to)) });
      await waitFor(`${name} to be back`, async () => {
        const now = stack.supervisor.pid(name);
        return now !== undefined && now !== pid && (await fetch(healthUrl(name)).then((r) => r.ok, () => false));
      }, 120_000, 100);
      await submitting;
    }
    await submit(VICTIMS.length * chunk, TASKS);
    expect(ids.filter(Boolean)).toHaveLength(TASKS);
    for (const name of VICTIMS) {
      const lines = stack.logs.filter((line) => line.startsWith(`[${name}]`) || line.includes(` ${name} `)).slice(-15);
      expect(stack.supervisor.restarts(name), `${name} restarted more than once:\n${lines.join('\n')}`).toBe(1);
    }
    // Every kill landed while tasks of its chunk were still on their way.
    expect(kills.filter((kill) => kill.openInChunk > 0).map((kill) => kill.name)).toEqual(VICTIMS);

    await waitForTerminal(stack.redis, ids, 300_000).catch(async (error: unknown) => {
      const states = await readStates(stack.redis, ids);
      const open = ids.filter((_, i) => !TERMINAL.includes(states[i] ?? ''));
      const consumers = await readConsumers(stack.nc);
      console.log(`kills ${JSON.stringify(kills)}\nconsumers ${JSON.stringify(consumers)}\n${await describeTasks(stack.redis, stack.logs, open)}`);
      throw error;
    });
    await waitForConsumersIdle(stack.nc);

    // A second run is unavoidable only for a delivery the worker-source had in flight when it
    // died: running then, or a request it had sent just before that reached the worker a little
    // later (a loaded machine), so its handler started after the kill. The invariants allow a
    // second run to those tasks only.
    const workerSourceKill = kills.find((kill) => kill.name === 'worker-source')!;
    const faults: Fault[] = [{ name: 'worker-source SIGKILL', atMs: workerSourceKill.atMs, untilMs: workerSourceKill.atMs + REQUEST_IN_TRANSIT_MS }];
    const check = await checkInvariants(stack.redis, {
      taskIds: ids,
      runs: counter,
      faults,
      expectedRuns: new Map(planned.map((task, index) => [ids[index]!, task.runs])),
      expectedStates: new Map(planned.map((task, index) => [ids[index]!, task.state])),
    });
    await counter.stop();
    const runs = counter.ledger();
    const ranTwice = planned.flatMap((task, index) => (task.state === 'SUCCEEDED' && runs.runsOf(ids[index]!) > task.runs ? [ids[index]!] : []));
    if (check.violations.length > 0) {
      const broken = [...new Set(check.violations.map((violation) => violation.split(':')[0]!))];
      console.log(`kills ${JSON.stringify(kills)}\n${await describeTasks(stack.redis, stack.logs, broken)}`);
    }
    expect(check.violations).toEqual([]);
    expect(check.terminalCount).toBe(TASKS);

    // Beyond the invariants' one dead letter per failed or rejected task: a failed task's is the
    // worker's (its handler failed), not a source's.
    const letters = await readDeadLetters(stack.redis);
    planned.forEach((task, index) => {
      if (task.state !== 'FAILED') return;
      expect(letters.filter((letter) => letter.taskId === ids[index]).map((letter) => letter.stage), ids[index]).toEqual(['worker']);
    });
    // Failed tasks ran at each of their max_attempts attempts, the last one included. An attempt
    // is a delivery: one the killed worker-source had pulled and not yet handed over is used up
    // without a run (JetStream redelivers it as the next attempt). Used up as the first, the task
    // runs at [2] alone; used up as the second, the third delivery finds no attempt left and the
    // worker fails the task for good without a run (its gate's `exhausted`), so [1] alone. Either
    // for no more tasks than that source could hold.
    const usedUp: string[] = [];
    planned.forEach((task, index) => {
      if (task.state !== 'FAILED') return;
      const attempts = runs.attemptsOf(ids[index]!);
      expect([[1, 2], [2], [1]], `${ids[index]} ran at attempts ${JSON.stringify(attempts)}`).toContainEqual(attempts);
      if (attempts.length === 1) usedUp.push(ids[index]!);
    });
    // The worker-source holds at most its delivery slots + one held message per consumer.
    const worker = findFunction('worker');
    expect(usedUp.length + ranTwice.length, `ran twice: ${ranTwice.join(', ')}; an attempt used up: ${usedUp.join(', ')}`).toBeLessThanOrEqual(
      worker.maxInFlight + worker.consumers.length,
    );

    // No leftovers: killed processes took their Redis connections with them, and nothing is
    // still subscribed to a task's status channel.
    const redisClientsAfter = Number(/connected_clients:(\d+)/.exec(await stack.redis.info('clients'))?.[1]);
    expect(redisClientsAfter).toBeLessThanOrEqual(redisClientsBefore);
    expect(await statusSubscriptions(stack.redis)).toEqual([]);
    expect(await stack.redis.exists(KEYS.delayedQueue)).toBe(0);

    const rss = Object.fromEntries([...VICTIMS, 'worker', 'gateway'].map((name) => [name, readRssMiB(stack.supervisor.pid(name))]));
    console.log(
      `[stage-kills] ${TASKS} tasks, kills ${JSON.stringify(kills.map((kill) => [kill.name, kill.openInChunk]))}, ` +
        `${check.touched.size} tasks touched by the worker-source kill, ${ranTwice.length} ran twice, ` +
        `redis clients ${redisClientsBefore} → ${redisClientsAfter}, RSS MiB ${JSON.stringify(rss)}`,
    );
  }, 600_000);
});
