// `npm run bench`: starts the process stack on its own servers and measures, for N echo tasks,
// end-to-end throughput (SubmitTask → SUCCEEDED seen on StreamStatus) and latency percentiles;
// then a BullMQ baseline (no-op jobs, add → completed) on its own redis-server, same machine,
// same run. Environment: BENCH_TASKS (default 1000), BENCH_CONCURRENCY (default 64).
import { Queue, QueueEvents, Worker } from 'bullmq';
import { createTaskManagerClient } from '../client/client';
import { startRedisServer } from '../test/helpers/servers';
import { startTestStack } from '../test/helpers/stack';
import { runPool, summarize, type RunSummary } from './stats';

const TASKS = Number(process.env.BENCH_TASKS ?? 1000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED']);

/** Stoppers of whatever is running, so Ctrl-C does not leave a stack behind. */
const cleanups = new Set<() => Promise<void>>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void Promise.allSettled([...cleanups].map((cleanup) => cleanup())).finally(() => process.exit(130));
  });
}

async function benchTaskmanager(): Promise<RunSummary> {
  const stack = await startTestStack({ env: { LOG_LEVEL: 'error' } });
  cleanups.add(stack.stop);
  const client = createTaskManagerClient({ address: stack.gatewayAddress });
  try {
    const runOne = async (index: number) => {
      const { taskId } = await client.submit({ type: 'echo', payload: { index }, priority: 'medium' });
      for await (const update of client.watch(taskId)) {
        if (TERMINAL.has(update.state)) {
          if (update.state !== 'SUCCEEDED') throw new Error(`task ${taskId} ended ${update.state}`);
          return;
        }
      }
    };
    await runPool(Math.min(50, TASKS), CONCURRENCY, runOne); // warm-up
    const started = performance.now();
    const latencies = await runPool(TASKS, CONCURRENCY, runOne);
    return summarize('taskmanager (echo, gRPC submit → SUCCEEDED)', latencies, (performance.now() - started) / 1000);
  } finally {
    client.close();
    cleanups.delete(stack.stop);
    await stack.stop();
  }
}

async function benchBullmq(): Promise<RunSummary> {
  const redisServer = await startRedisServer();
  cleanups.add(redisServer.stop);
  const connection = { host: '127.0.0.1', port: redisServer.port };
  const queue = new Queue('bench', { connection });
  const events = new QueueEvents('bench', { connection });
  // Every waiting client adds listeners; without this Node warns about a leak that is not one.
  events.setMaxListeners(CONCURRENCY * 4);
  queue.setMaxListeners(CONCURRENCY * 4);
  const worker = new Worker('bench', async () => undefined, { connection, concurrency: 16 });
  try {
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady(), worker.waitUntilReady()]);
    const runOne = async (index: number) => {
      // Finished jobs are kept: waitUntilFinished reads the job after it subscribes, and a job
      // already removed on completion fails it with "Missing key" (this server is thrown away).
      const job = await queue.add('noop', { index });
      await job.waitUntilFinished(events, 60_000);
    };
    await runPool(Math.min(50, TASKS), CONCURRENCY, runOne);
    const started = performance.now();
    const latencies = await runPool(TASKS, CONCURRENCY, runOne);
    return summarize('BullMQ baseline (no-op, add → completed)', latencies, (performance.now() - started) / 1000);
  } finally {
    await worker.close();
    await events.close();
    await queue.close();
    cleanups.delete(redisServer.stop);
    await redisServer.stop();
  }
}

function print(summary: RunSummary): void {
  const fmt = (n: number) => n.toFixed(1).padStart(8);
  process.stdout.write(
    `${summary.name}\n  tasks ${summary.tasks}  time ${summary.seconds.toFixed(2)} s  throughput ${fmt(summary.throughputPerSecond)} /s` +
      `  latency p50 ${fmt(summary.p50Ms)} ms  p95 ${fmt(summary.p95Ms)} ms  p99 ${fmt(summary.p99Ms)} ms\n`,
  );
}

async function main(): Promise<void> {
  process.stdout.write(`bench: ${TASKS} tasks, ${CONCURRENCY} concurrent clients, node ${process.version}\n`);
  const ours = await benchTaskmanager();
  print(ours);
  const baseline = await benchBullmq();
  print(baseline);
  process.stdout.write(
    `ratio (taskmanager / BullMQ): throughput ${(ours.throughputPerSecond / baseline.throughputPerSecond).toFixed(3)}, ` +
      `p50 latency ${(ours.p50Ms / baseline.p50Ms).toFixed(2)}x\n`,
  );
  process.stdout.write(`${JSON.stringify({ taskmanager: ours, bullmq: baseline })}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
