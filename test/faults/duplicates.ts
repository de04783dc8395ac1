// Fault scenario 14: the same event twice, and redelivered after a crash; each is processed once
// (one handler run, one result, one audit entry per event id).
// - Every event of a finished task published again with its own Nats-Msg-Id: JetStream's duplicate
//   window drops them all. Published again under other Nats-Msg-Ids (as after the window): every
//   stage gets them and absorbs them.
// - A `scheduled` event published again while its task runs: the worker does not start a second
//   run of the same attempt.
// - The worker's source frozen (SIGSTOP) while its deliveries run, then killed after the worker
//   answered: JetStream redelivers every one of them (attempt 2), and the worker skips them.
// Handler runs are counted by the run counter (run-counter.ts: every `handler.started` as
// published, also those JetStream drops as duplicates), so a second run of the same attempt
// cannot hide behind the audit stage's dedupe. None of these faults may cost a second run: the
// invariants are checked without a fault allowance.
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { isTerminal, KEYS, SUBJECTS } from '../../shared/contract';
import type { WireEvent } from '../../shared/events';
import { waitFor } from '../helpers/ports';
import type { FaultContext, FaultScenario } from './context';
import { checkInvariants } from './invariants';
import { publishRaw, waitForConsumersIdle } from './probes';
import { startRunCounter, type RunCounter } from './run-counter';
import { readStates } from './workload';

type Recorder = { events: WireEvent[]; of(taskId: string): WireEvent[]; stop(): void };

/** Every CloudEvent published on the streams' subjects, as published (deliveries to the sources'
 * inboxes are not seen: they go to other subjects). */
function recordEvents(nc: NatsConnection): Recorder {
  const events: WireEvent[] = [];
  const subs: Subscription[] = ['tasks.>', 'events.>'].map((subject) =>
    nc.subscribe(subject, {
      callback: (_error, msg) => {
        try {
          events.push(JSON.parse(new TextDecoder().decode(msg.data)) as WireEvent);
        } catch {
          // not a CloudEvent (another scenario's poison): not ours
        }
      },
    }),
  );
  return {
    events,
    of: (taskId) => events.filter((event) => event.subject === taskId),
    stop: () => subs.forEach((sub) => sub.unsubscribe()),
  };
}

/** Handler runs of the task so far, as published. */
async function runsOf(runs: RunCounter, taskId: string): Promise<number> {
  await runs.flush();
  return runs.ledger().runsOf(taskId);
}

type AuditEntry = { taskId: string; action: string; attempt: number; eventId: string };

async function auditOf(context: FaultContext, taskId: string): Promise<AuditEntry[]> {
  const entries = (await context.stack.redis.lrange(KEYS.auditEvents, 0, -1)).map((entry) => JSON.parse(entry) as AuditEntry);
  return entries.filter((entry) => entry.taskId === taskId);
}

/** One audit entry per event id, and the result of attempt 1 (runs: the invariants). */
async function expectOnceEach(context: FaultContext, taskId: string): Promise<void> {
  const audit = await auditOf(context, taskId);
  const ids = audit.map((entry) => entry.eventId);
  expect(new Set(ids).size, `${taskId}: audit entries ${ids.join(', ')}`).toBe(ids.length);
  expect(await context.stack.redis.hget(KEYS.result(taskId), 'attempt'), taskId).toBe('1');
}

const subjectOf = (event: WireEvent): string => {
  const bySource: Record<string, string> = {
    'taskmanager.task.submitted': SUBJECTS.ingest,
    'taskmanager.task.accepted': SUBJECTS.schedule,
    'taskmanager.task.scheduled': SUBJECTS.workerMedium,
    'taskmanager.task.finished': SUBJECTS.results,
    'taskmanager.status.changed': SUBJECTS.status,
    'taskmanager.audit.recorded': SUBJECTS.audit,
    'taskmanager.task.deadlettered': SUBJECTS.deadletter,
  };
  const subject = bySource[event.type];
  if (!subject) throw new Error(`unexpected event type ${event.type}`);
  return subject;
};

export const describeDuplicates: FaultScenario = (context) => {
  describe('fault 14: the same event twice, and redelivered after a crash', () => {
    it('every event of a finished task published again is dropped by the duplicate window, and absorbed by every stage under other Nats-Msg-Ids', async () => {
      const ctx = context();
      const { stack, client } = ctx;
      const runs = await startRunCounter(stack.nc);
      const recorder = recordEvents(stack.nc);
      const { taskId } = await client.submit({ type: 'echo', payload: { twice: true } });
      expect((await client.waitForResult(taskId)).state).toBe('SUCCEEDED');
      await waitForConsumersIdle(stack.nc);
      recorder.stop();
      const events = recorder.of(taskId).filter((event, i, all) => all.findIndex((e) => e.id === event.id) === i);
      expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['taskmanager.task.submitted', 'taskmanager.task.scheduled', 'taskmanager.task.finished']));
      const historyBefore = await stack.redis.lrange(KEYS.history(taskId), 0, -1);
      const resultBefore = await stack.redis.hget(KEYS.result(taskId), 'json');

      // Same Nats-Msg-Id: every one is a duplicate for JetStream.
      for (const event of events) {
        expect(await publishRaw(stack.nc, subjectOf(event), JSON.stringify(event), event.id), event.id).toBe(true);
      }
      // Other Nats-Msg-Ids: stored and delivered again, to every stage.
      for (const event of events) {
        expect(await publishRaw(stack.nc, subjectOf(event), JSON.stringify(event), `${event.id}#after-the-window`), event.id).toBe(false);
      }
      // The worker and ingest got theirs, saw the task finished and skipped it.
      await waitFor('the repeated task events to be skipped', async () => {
        const actions = (await auditOf(ctx, taskId)).map((entry) => `${entry.action}`);
        return actions.filter((action) => action === 'skipped.succeeded').length >= 2;
      });
      await waitForConsumersIdle(stack.nc);

      await expectOnceEach(ctx, taskId);
      expect(await stack.redis.lrange(KEYS.history(taskId), 0, -1)).toEqual(historyBefore);
      expect(await stack.redis.hget(KEYS.result(taskId), 'json')).toBe(resultBefore);
      // The replayed `handler.started` records are the same records (same timestamp): one run.
      const invariants = await checkInvariants(stack.redis, { taskIds: [taskId], runs, expectedStates: new Map([[taskId, 'SUCCEEDED']]) });
      await runs.stop();
      expect(invariants.violations).toEqual([]);
    }, 120_000);

    it('a scheduled event published again while its task runs does not start a second run', async () => {
      const ctx = context();
      const { stack, client } = ctx;
      const runs = await startRunCounter(stack.nc);
      const recorder = recordEvents(stack.nc);
      try {
        const { taskId } = await client.submit({ type: 'sleep', payload: { ms: 3_000 } });
        await waitFor('the task to run', async () => (await runsOf(runs, taskId)) === 1);
        const scheduled = recorder.of(taskId).find((event) => event.type === 'taskmanager.task.scheduled');
        expect(scheduled).toBeDefined();
        expect(await publishRaw(stack.nc, SUBJECTS.workerMedium, JSON.stringify(scheduled), `${scheduled!.id}#again`)).toBe(false);
        expect((await client.waitForResult(taskId)).state).toBe('SUCCEEDED');
        await waitForConsumersIdle(stack.nc);

        await expectOnceEach(ctx, taskId);
        const invariants = await checkInvariants(stack.redis, { taskIds: [taskId], runs, expectedStates: new Map([[taskId, 'SUCCEEDED']]) });
        expect(invariants.violations).toEqual([]);
      } finally {
        recorder.stop();
        await runs.stop();
      }
    }, 120_000);

    it('deliveries redelivered after their source crashed (the worker had answered) are not run again', async () => {
      const ctx = context();
      const { stack, client } = ctx;
      const runs = await startRunCounter(stack.nc);
      try {
        const ids = await Promise.all(Array.from({ length: 6 }, () => client.submit({ type: 'sleep', payload: { ms: 4_000 } }).then((r) => r.taskId)));
        await waitFor('every task to run', async () => (await Promise.all(ids.map((id) => runsOf(runs, id)))).every((count) => count === 1));
        // The worker finishes and answers; its source, frozen, never acks.
        stack.supervisor.kill('worker-source', 'SIGSTOP');
        const states = await readStates(stack.redis, ids);
        const unacked = ids.filter((_, i) => !isTerminal(states[i] ?? ''));
        expect(unacked.length).toBeGreaterThan(0);
        const restartsBefore = stack.supervisor.restarts('worker-source');
        await Promise.all(ids.map((id) => client.waitForResult(id)));
        stack.supervisor.kill('worker-source', 'SIGKILL');
        await waitFor('the worker source to be restarted', () => stack.supervisor.restarts('worker-source') > restartsBefore);
        // After AckWait JetStream delivers each again, usually as attempt 2 (3 when the frozen
        // source's pending pull took 2, and after a source crash it can even repeat 1: nothing was
        // skipped before the crash, so any skip is the redelivery's); the worker finds each
        // finished and skips it.
        await waitFor(
          'every unacked task to be redelivered and skipped',
          async () => {
            for (const id of unacked) {
              const skipped = (await auditOf(ctx, id)).filter((entry) => entry.action === 'skipped.succeeded');
              if (skipped.length === 0) return false;
            }
            return true;
          },
          60_000,
          250,
        );
        await waitForConsumersIdle(stack.nc);

        for (const id of ids) await expectOnceEach(ctx, id);
        const invariants = await checkInvariants(stack.redis, { taskIds: ids, runs, expectedStates: new Map(ids.map((id) => [id, 'SUCCEEDED'])) });
        expect(invariants.violations).toEqual([]);
      } finally {
        await runs.stop();
      }
    }, 120_000);
  });
};
