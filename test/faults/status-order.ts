// Fault scenario 9: status events delivered out of order and duplicated. For many tasks, the
// status events of a whole run (QUEUED … RUNNING, RETRYING, RUNNING again … SUCCEEDED) are
// published on events.status with the shared emitter, shuffled across all tasks, each 1–3 times
// (the copies under other Nats-Msg-Ids, so JetStream's duplicate window does not hide them from
// the notifier). The stored status only ever moves forward, ends SUCCEEDED once, and StreamStatus
// clients watching from the start see exactly the stored history: no backwards move, no repeat.
// The tasks exist for the gateway but never enter the pipeline, so only these events move them.
import { randomUUID } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { CONSUMERS, KEYS, type StatusUpdate, type TaskStateName } from '../../shared/contract';
import { createEmitter } from '../../shared/emit';
import { toWireBytes } from '../../shared/events';
import type { Publisher } from '../../shared/nats';
import { isNewer, readHistory } from '../../shared/status';
import { toTaskFields } from '../../shared/task-record';
import { createTaskManagerClient as createRawClient, readStream, type StreamOutcome } from '../../gateway/test-support/grpc-client';
import { waitFor } from '../helpers/ports';
import type { FaultScenario } from './context';
import { checkInvariants } from './invariants';
import { startRunCounter } from './run-counter';
import { waitForConsumersIdle } from './probes';
import { mapLimit } from './workload';

const TASKS = 40;

type Step = { stage: string; state: TaskStateName; attempt: number; progress: number };

/** A run with one retry, as the stages report it. */
const RUN: readonly Step[] = [
  { stage: 'gateway', state: 'QUEUED', attempt: 0, progress: 0 },
  { stage: 'ingest', state: 'VALIDATED', attempt: 0, progress: 0 },
  { stage: 'ingest', state: 'ENRICHED', attempt: 0, progress: 0 },
  { stage: 'scheduler', state: 'SCHEDULED', attempt: 0, progress: 0 },
  { stage: 'worker', state: 'RUNNING', attempt: 1, progress: 0 },
  { stage: 'worker', state: 'RUNNING', attempt: 1, progress: 50 },
  { stage: 'worker', state: 'RETRYING', attempt: 1, progress: 0 },
  { stage: 'worker', state: 'RUNNING', attempt: 2, progress: 0 },
  { stage: 'worker', state: 'RUNNING', attempt: 2, progress: 50 },
  { stage: 'worker', state: 'RUNNING', attempt: 2, progress: 100 },
  { stage: 'result-store', state: 'SUCCEEDED', attempt: 2, progress: 100 },
];

/** mulberry32: a seeded shuffle, so a failure can be replayed from the seed in its message. */
function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

type Seen = Pick<StatusUpdate, 'state' | 'attempt' | 'progress'> & { seq: number };

const toKey = (entry: Pick<Step, 'state' | 'attempt' | 'progress'>) => `${entry.state}/${entry.attempt}/${entry.progress}`;

export const describeStatusOrder: FaultScenario = (context) => {
  describe('fault 9: status events out of order and duplicated', () => {
    it('the status only moves forward, ends terminal once, and StreamStatus clients never see a backwards move', async () => {
      const { stack } = context();
      const runs = await startRunCounter(stack.nc);
      const seed = Date.now() % 1_000_000;
      const random = createRandom(seed);
      const why = `seed ${seed}`;
      const ids = Array.from({ length: TASKS }, () => `order-${randomUUID()}`);
      const now = Date.now();
      for (const id of ids) {
        await stack.redis.hset(
          KEYS.task(id),
          ...toTaskFields({ taskId: id, type: 'echo', payload: '{}', priority: 'medium', metadata: {}, maxAttempts: 5, createdAtMs: now, notBeforeMs: 0, tenant: 'default' }),
        );
        // The result-store's write, so that SUCCEEDED has its result (the invariants check it).
        await stack.redis.hset(KEYS.result(id), 'json', JSON.stringify({ state: 'SUCCEEDED', output: '{}', attempts: 2 }), 'attempt', '2');
      }

      // Watch every task from its very first change.
      const raw = createRawClient(stack.gatewayAddress);
      const streams = new Map<string, Promise<StreamOutcome>>();
      const ended = new Set<string>();
      for (const id of ids) {
        streams.set(id, readStream(raw.streamStatus({ task_id: id, after_seq: 0 })).finally(() => ended.add(id)));
      }

      const js = jetstream(stack.nc);
      // Nats-Msg-Id = event id + suffix: outside the duplicate window, as far as JetStream knows.
      const publisherWith = (suffix: string): Publisher => ({
        async publish(subject, event) {
          await js.publish(subject, toWireBytes(event), { msgID: suffix === '' ? event.id : `${event.id}#${suffix}` });
        },
      });
      const publishAll = async (round: string) => {
        const jobs: (() => Promise<void>)[] = [];
        for (const id of ids) {
          for (const step of RUN) {
            const copies = 1 + Math.floor(random() * 3);
            for (let copy = 0; copy < copies; copy += 1) {
              const emit = createEmitter(publisherWith(copy === 0 && round === '' ? '' : `${round}copy-${copy}`), step.stage);
              jobs.push(() => emit.status(id, step.state, { attempt: step.attempt, progress: step.progress }));
            }
          }
        }
        await mapLimit(shuffle(jobs, random), 32, (job) => job());
        return jobs.length;
      };

      const published = await publishAll('');
      await waitForConsumersIdle(stack.nc, 120_000, CONSUMERS.notifier);
      await waitFor('every status stream to end', () => ended.size === ids.length, 60_000);

      const known = new Set(RUN.map(toKey));
      let ignored = 0;
      const histories = new Map<string, Seen[]>();
      for (const id of ids) {
        const history: Seen[] = (await readHistory(stack.redis, id)).map(({ seq, state, attempt, progress }) => ({ seq, state, attempt, progress }));
        histories.set(id, history);
        ignored += RUN.length - history.length;
        expect(history.at(-1)?.state, `${id} (${why})`).toBe('SUCCEEDED');
        for (const entry of history) expect(known.has(toKey(entry)), `${id}: ${toKey(entry)} was never published (${why})`).toBe(true);

        const outcome = await streams.get(id)!;
        expect(outcome.error, `${id} (${why})`).toBeUndefined();
        const seen: Seen[] = outcome.updates.map((u) => ({ seq: Number(u.seq), state: u.state as TaskStateName, attempt: u.attempt, progress: u.progress }));
        // The client saw every stored change, once, in order.
        expect(seen, `${id} (${why})`).toEqual(history);
        for (let i = 1; i < seen.length; i += 1) {
          const before = { ...seen[i - 1]!, taskId: id, stage: '', message: '', updatedAtMs: 0 };
          const after = { ...seen[i]!, taskId: id, stage: '', message: '', updatedAtMs: 0 };
          expect(isNewer(after, before), `${id}: ${toKey(before)} → ${toKey(after)} (${why})`).toBe(true);
        }
      }
      raw.close();
      console.log(`fault 9: ${published} status events for ${TASKS} tasks, ${ignored} arrived after a newer one and were ignored (${why})`);
      // The shuffle really delivered updates late: otherwise this test proved nothing.
      expect(ignored, why).toBeGreaterThan(0);

      const invariants = await checkInvariants(stack.redis, {
        taskIds: ids,
        runs,
        expectedStates: new Map(ids.map((id) => [id, 'SUCCEEDED'])),
        expectedRuns: new Map(ids.map((id) => [id, 0])),
      });
      await runs.stop();
      expect(invariants.violations, why).toEqual([]);

      // Everything once more, long after the end: a terminal state is never left.
      await publishAll('late-');
      await waitForConsumersIdle(stack.nc, 120_000, CONSUMERS.notifier);
      for (const id of ids) {
        const history = (await readHistory(stack.redis, id)).map(({ seq, state, attempt, progress }) => ({ seq, state, attempt, progress }));
        expect(history, `${id} (${why})`).toEqual(histories.get(id));
      }
    }, 240_000);
  });
};
