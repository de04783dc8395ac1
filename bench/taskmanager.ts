// Taskmanager as a closed-loop system: echo tasks submitted over gRPC and followed on
// StreamStatus to SUCCEEDED, on a fresh stack per phase.
import { createTaskManagerClient, type TaskManagerClient } from '../client/client';
import type { TestStack } from '../test/helpers/stack';
import { benchClientProcess, measureClosedLoop, type ClosedLoopOptions, type ClosedLoopResult, type ClosedLoopSystem } from './closed-loop';
import { withResource } from './resources';
import { stackProcesses, startBenchStack, stopBenchStack, waitForQuiet, type BenchStackOptions } from './stack';

/** Longer than any echo task takes even on a loaded machine: a task past it counts as failed. */
const TASK_TIMEOUT_MS = 300_000;

export function createTaskmanagerSystem(stack: TestStack, client: TaskManagerClient, log: (line: string) => void): ClosedLoopSystem {
  return {
    async runOne(index) {
      const { taskId } = await client.submit({ type: 'echo', payload: { index }, priority: 'medium' });
      for await (const update of client.watch(taskId, { signal: AbortSignal.timeout(TASK_TIMEOUT_MS) })) {
        if (update.state === 'SUCCEEDED') return;
        if (['FAILED', 'CANCELLED', 'REJECTED'].includes(update.state)) throw new Error(`task ${taskId} ended ${update.state}`);
      }
      throw new Error(`task ${taskId} not terminal within ${TASK_TIMEOUT_MS / 1000} s`);
    },
    async quiet() {
      if (!(await waitForQuiet(stack.nc))) log('bench: the pipeline was still busy 60 s after the run; its CPU reading ends there');
    },
    processes: () => [...stackProcesses(stack), benchClientProcess()],
  };
}

export type StackRunOptions = ClosedLoopOptions & BenchStackOptions & { phase: string; log: (line: string) => void };

/** A closed-loop run against a fresh stack, stopped afterwards (which writes its profiles). */
export function benchTaskmanager(options: StackRunOptions): Promise<ClosedLoopResult> {
  return withResource(
    () => startBenchStack(options.phase, options),
    async (stack) => {
      const unclean = await stopBenchStack(stack);
      if (unclean.length > 0) options.log(`bench: did not exit cleanly (no CPU profile from them): ${unclean.join(', ')}`);
    },
    async (stack) => {
      const client = createTaskManagerClient({ address: stack.gatewayAddress, deadlineMs: 120_000 });
      try {
        return await measureClosedLoop(createTaskmanagerSystem(stack, client, options.log), options);
      } finally {
        client.close();
      }
    },
  );
}
