// Fault scenario 15: SIGTERM to every component at once, under load (tasks running in the worker,
// more queued at every stage, a client still submitting). Each process drains within its own
// grace period (its TM_SHUTDOWN_GRACE_MS, 5 s here) and exits 0, well before the supervisor's
// SIGKILL (15 s); each one's time from SIGTERM to exit is measured by the supervisor. Then the
// same processes start again against the same servers: every task whose SubmitTask returned an
// id ends in its one terminal state; a handler runs a second time only if its run was in flight
// when the stop came or started while the processes drained (cut off at the deadline, it goes
// back to the queue).
import { describe, expect, it } from 'vitest';
import type { ExitRecord } from '../../scripts/supervisor';
import { FUNCTIONS } from '../../shared/topology';
import { sourceName } from '../../scripts/local-stack';
import { waitFor } from '../helpers/ports';
import type { FaultScenario } from './context';
import { checkInvariants, type Fault } from './invariants';
import { countTerminal } from './probes';
import { startRunCounter } from './run-counter';
import { describeTasks, mapLimit, submitUntilAccepted } from './workload';

/** The platform's grace period (Kubernetes' terminationGracePeriodSeconds): SIGKILL after it. */
const SUPERVISOR_GRACE_MS = 15_000;
/** What a process may take beyond its own grace period: after the deadline it still closes its
 * NATS and Redis connections and flushes telemetry, and Node exits; the supervisor sees the exit
 * a little later on a loaded machine. */
const EXIT_MARGIN_MS = 2_000;

type Planned = { type: string; payload: unknown; runs: number };

function plan(): Planned[] {
  const tasks: Planned[] = [];
  for (let i = 0; i < 30; i += 1) tasks.push({ type: 'sleep', payload: { ms: 1_500 }, runs: 1 });
  for (let i = 0; i < 60; i += 1) tasks.push({ type: 'echo', payload: { i }, runs: 1 });
  for (let i = 0; i < 10; i += 1) tasks.push({ type: 'flaky', payload: { failures: 1 }, runs: 2 });
  return tasks;
}

/** Milliseconds from SIGTERM to exit, or why it cannot be measured. */
function toStopTime(exit: ExitRecord): number | string {
  return exit.termAtMs === undefined ? 'exited before the stop sent SIGTERM' : exit.atMs - exit.termAtMs;
}

export const describeSigterm: FaultScenario = (context) => {
  describe('fault 15: SIGTERM to every component under load', () => {
    it('each process exits 0 within its grace period, and after a restart every accepted task ends terminal, none lost', async () => {
      const { stack, client } = context();
      const planned = plan();
      const runs = await startRunCounter(stack.nc);
      const ids = await mapLimit(planned, 32, async (task) => (await client.submit({ type: task.type, payload: task.payload })).taskId);
      const expectedRuns = new Map(ids.map((id, i) => [id, planned[i]!.runs]));

      // A client that keeps submitting through the shutdown: what it got an id for must not be lost.
      let submitting = true;
      let refused = 0;
      const late: string[] = [];
      const submitter = (async () => {
        for (let i = 0; submitting; i += 1) {
          try {
            late.push((await client.submit({ type: 'echo', payload: { late: i } })).taskId);
          } catch {
            refused += 1;
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        }
      })();

      const sleeps = ids.filter((_, i) => planned[i]!.type === 'sleep');
      await waitFor('sleep tasks to be running', async () => {
        await runs.flush();
        return sleeps.filter((id) => runs.ledger().runsOf(id) > 0).length >= 5;
      });
      const terminalAtStop = await countTerminal(stack.redis, ids);
      // A run in flight when the stop came, or started while the processes drained, may have been
      // cut off by it: a second run is allowed there only.
      const stop: Fault = { name: 'SIGTERM to every process', atMs: Date.now() };
      const exits = await stack.supervisor.stop(SUPERVISOR_GRACE_MS);
      stop.untilMs = Date.now();
      submitting = false;
      await submitter;

      const names = ['gateway', 'dashboard', ...FUNCTIONS.flatMap((fn) => (fn.sourcePort ? [fn.name, sourceName(fn)] : [fn.name]))].sort();
      expect(exits.map((exit) => exit.name).sort()).toEqual(names);
      // Each process exited 0 of its own accord, within its own grace period (plus the margin).
      const graceOf = (name: string) => Number(stack.specs.find((spec) => spec.name === name)?.env.TM_SHUTDOWN_GRACE_MS);
      for (const exit of exits) {
        expect(graceOf(exit.name), `${exit.name} has no TM_SHUTDOWN_GRACE_MS`).toBeGreaterThan(0);
        expect({ name: exit.name, code: exit.code, signal: exit.signal }).toEqual({ name: exit.name, code: 0, signal: null });
        const stopTime = toStopTime(exit);
        expect(typeof stopTime === 'number' && stopTime <= graceOf(exit.name) + EXIT_MARGIN_MS, `${exit.name} took ${stopTime} ms from SIGTERM to exit; its grace period is ${graceOf(exit.name)} ms`).toBe(true);
      }
      const stopTimes = Object.fromEntries(exits.map((exit) => [exit.name, toStopTime(exit)]));
      console.log(
        `fault 15: stopped with ${ids.length - terminalAtStop} of ${ids.length} tasks unfinished; ` +
          `${late.length} submits accepted and ${refused} refused during the shutdown; ms from SIGTERM to exit ${JSON.stringify(stopTimes)}`,
      );

      await stack.startProcesses();
      const all = [...ids, ...late];
      await waitFor('every accepted task to end terminal after the restart', async () => (await countTerminal(stack.redis, all)) === all.length, 120_000, 500);

      const invariants = await checkInvariants(stack.redis, {
        taskIds: all,
        runs,
        faults: [stop],
        expectedStates: new Map(all.map((id) => [id, 'SUCCEEDED'])),
        expectedRuns,
      });
      await runs.stop();
      const broken = all.filter((id) => invariants.violations.some((violation) => violation.startsWith(id)));
      expect(invariants.violations, await describeTasks(stack.redis, stack.logs, broken.slice(0, 5))).toEqual([]);
      const twice = all.filter((id) => (invariants.runsByTask.get(id) ?? 0) > (expectedRuns.get(id) ?? 1));
      const ledger = runs.ledger();
      const runningAtStop = [...ledger.runningAt(stop.atMs)].filter((id) => expectedRuns.has(id) || late.includes(id)).length;
      const startedWhileDraining = [...ledger.startedBetween(stop.atMs, stop.untilMs)].filter((id) => expectedRuns.has(id) || late.includes(id)).length;
      console.log(
        `fault 15: ${invariants.touched.size} tasks touched by the stop (${runningAtStop} running at the SIGTERM, ${startedWhileDraining} started while draining); ` +
          `${twice.length} ran again after the restart`,
      );
      // The gateway serves again. The client's channel saw the gateway go away and may still be
      // in its reconnect backoff, so the submit is retried as a caller would (same key).
      const { taskId } = await submitUntilAccepted(client, { type: 'echo', payload: { restarted: true }, idempotencyKey: 'fault-15-after-restart' });
      expect((await client.waitForResult(taskId)).state).toBe('SUCCEEDED');
    }, 300_000);
  });
};
