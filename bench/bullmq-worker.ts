// BullMQ's side of the baseline: a worker of no-op jobs in a process of its own (started by the
// bench as `node dist/bench.cjs --bullmq-worker`), so its CPU is read from /proc apart from the
// bench's clients, as taskmanager's workers are separate processes too.
import { Worker } from 'bullmq';

export const BULLMQ_QUEUE = 'bench';
/** The taskmanager worker's delivery slots (shared/topology.ts), so both run 16 tasks at once. */
export const BULLMQ_WORKER_CONCURRENCY = 16;
export const BULLMQ_READY_LINE = 'bullmq-worker ready';

export async function startBullmqWorker(redisPort: number): Promise<{ close(): Promise<void> }> {
  const worker = new Worker(BULLMQ_QUEUE, async () => undefined, {
    connection: { host: '127.0.0.1', port: redisPort },
    concurrency: BULLMQ_WORKER_CONCURRENCY,
  });
  await worker.waitUntilReady();
  return { close: () => worker.close() };
}
