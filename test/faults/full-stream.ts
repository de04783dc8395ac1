// Fault scenario 12: a full TASKS stream. MaxMsgs of the running TASKS stream is cut to 40 (as an
// operator would tighten it; the gateway reads the limits from the stream) and the worker frozen
// (SIGSTOP), so scheduled tasks pile up on tasks.worker.*. SubmitTask then answers
// RESOURCE_EXHAUSTED and leaves nothing behind; every task accepted before keeps its place (none
// fails for want of room on its way to the worker); once the worker runs again (interest
// retention frees a message per ack) everything accepted succeeds, each handler once, and new
// submissions are taken again. The gateway refuses while the stages still have their reserve of
// the stream (gateway/backlog.ts): 50 % here (TM_BACKLOG_RESERVE_PERCENT). Every task the worker
// holds needs one message of room to publish its result, and it can hold no more than were
// admitted: at most the stream's other half.
import { status as GrpcStatus } from '@grpc/grpc-js';
import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { TaskManagerClientError } from '../../client/client';
import { DEFAULT_FLOW_SETTINGS, STREAM_TASKS } from '../../shared/contract';
import { waitFor } from '../helpers/ports';
import { keysMatching } from '../helpers/redis-keys';
import type { TestStack } from '../helpers/stack';
import type { FaultScenario } from './context';
import { checkInvariants } from './invariants';
import { startRunCounter } from './run-counter';
import { countTerminal, waitForConsumersIdle } from './probes';

const MAX_MSGS = 40;
/** The gateway of the shared stack keeps this share of the stream for the stages. */
export const BACKLOG_RESERVE_PERCENT = 50;

async function taskKeys(stack: TestStack, ids: readonly string[]): Promise<string[]> {
  const found = await Promise.all(ids.map(async (id) => ((await stack.redis.exists(`task:${id}`)) ? id : '')));
  return found.filter(Boolean);
}

export const describeFullStream: FaultScenario = (context) => {
  describe('fault 12: a full TASKS stream', () => {
    it('SubmitTask answers RESOURCE_EXHAUSTED, nothing accepted is lost, and work resumes once the worker frees space', async () => {
      const { stack, client } = context();
      await waitForConsumersIdle(stack.nc);
      const runs = await startRunCounter(stack.nc);
      const jsm = await jetstreamManager(stack.nc);
      const taskKeysBefore = (await keysMatching(stack.redis, 'task:*')).length;
      await jsm.streams.update(STREAM_TASKS, { max_msgs: MAX_MSGS });
      // Nothing runs when the worker is frozen (the consumers are idle): no task may run twice.
      const frozen = { name: 'worker SIGSTOP', atMs: Date.now() };
      stack.supervisor.kill('worker', 'SIGSTOP');
      try {
        const accepted: string[] = [];
        let refusal: TaskManagerClientError | undefined;
        // One at a time, each left to reach the worker's queue, so the stream fills with scheduled
        // tasks and the refusal is the gateway's, not a race between stages.
        for (let i = 0; i < MAX_MSGS && !refusal; i += 1) {
          try {
            const { taskId } = await client.submit({ type: 'echo', payload: { i } });
            accepted.push(taskId);
            await waitFor(`task ${i} to be scheduled (or to fail)`, async () => {
              const state = (await client.getTask(taskId)).status?.state;
              return state === 'SCHEDULED' || state === 'FAILED';
            });
          } catch (error) {
            if (!(error instanceof TaskManagerClientError)) throw error;
            refusal = error;
          }
        }
        expect(refusal?.grpcCode, refusal?.message).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
        expect(refusal?.message).toMatch(/backlog is full.*kept for tasks already accepted/);
        expect(accepted.length).toBeGreaterThanOrEqual((MAX_MSGS * (100 - BACKLOG_RESERVE_PERCENT)) / 100);
        // Every accepted task waits for the worker: none was failed for want of room on its way.
        for (const id of accepted) expect((await client.getTask(id)).status?.state, id).toBe('SCHEDULED');
        expect((await jsm.streams.info(STREAM_TASKS)).state.messages).toBe(accepted.length);

        // Still refused while the worker is frozen, however many ask at once, and nothing stays.
        const again = await Promise.all(
          Array.from({ length: 10 }, (_, i) => client.submit({ type: 'echo', payload: { late: i } }).catch((error: unknown) => error)),
        );
        for (const outcome of again) expect((outcome as TaskManagerClientError).grpcCode).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
        expect((await keysMatching(stack.redis, 'task:*')).length).toBe(taskKeysBefore + accepted.length);
        expect(await taskKeys(stack, accepted)).toEqual(accepted);

        stack.supervisor.kill('worker', 'SIGCONT');
        await waitFor('every accepted task to end terminal', async () => (await countTerminal(stack.redis, accepted)) === accepted.length, 60_000, 250);
        const { taskId: after } = await waitFor('a submission to be accepted again', async () =>
          client.submit({ type: 'echo', payload: { after: true } }).catch(() => undefined),
        );
        expect((await client.waitForResult(after)).state).toBe('SUCCEEDED');

        const all = [...accepted, after];
        const invariants = await checkInvariants(stack.redis, { taskIds: all, runs, faults: [frozen], expectedStates: new Map(all.map((id) => [id, 'SUCCEEDED'])) });
        expect(invariants.violations).toEqual([]);
        expect(invariants.touched.size).toBe(0);
      } finally {
        await runs.stop();
        stack.supervisor.kill('worker', 'SIGCONT');
        await jsm.streams.update(STREAM_TASKS, { max_msgs: DEFAULT_FLOW_SETTINGS.maxMsgs });
      }
    }, 180_000);
  });
};
