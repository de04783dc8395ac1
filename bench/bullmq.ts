// The BullMQ baseline in the same harness shape: no-op jobs, add → completed (seen through
// QueueEvents), on a fresh redis-server of its own, the worker in its own process.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Queue, QueueEvents } from 'bullmq';
import { startRedisServer, type TestServer } from '../test/helpers/servers';
import { BULLMQ_QUEUE, BULLMQ_READY_LINE } from './bullmq-worker';
import { benchClientProcess, measureClosedLoop, type ClosedLoopOptions, type ClosedLoopResult, type ClosedLoopSystem } from './closed-loop';
import { withResource } from './resources';

export const BULLMQ_WORKER = 'bullmq worker';

type Rig = { redisServer: TestServer; worker: ChildProcess; queue: Queue; events: QueueEvents };

/** Starts `node <benchScript> --bullmq-worker <port>` and waits for its ready line. */
async function spawnWorker(benchScript: string, redisPort: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [benchScript, '--bullmq-worker', String(redisPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error('the BullMQ worker was not ready within 30 s')), 30_000);
      child.once('exit', (code, signal) => reject(new Error(`the BullMQ worker exited (${signal ?? code}) before it was ready`)));
      lines.on('line', (line) => {
        if (line.trim() === BULLMQ_READY_LINE) resolve();
      });
    });
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return child;
}

async function startRig(benchScript: string, concurrency: number): Promise<Rig> {
  const redisServer = await startRedisServer();
  let worker: ChildProcess | undefined;
  try {
    worker = await spawnWorker(benchScript, redisServer.port);
    const connection = { host: '127.0.0.1', port: redisServer.port };
    const queue = new Queue(BULLMQ_QUEUE, { connection });
    const events = new QueueEvents(BULLMQ_QUEUE, { connection });
    // Every waiting client adds listeners; without this Node warns about a leak that is not one.
    events.setMaxListeners(concurrency * 4);
    queue.setMaxListeners(concurrency * 4);
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
    return { redisServer, worker, queue, events };
  } catch (error) {
    worker?.kill('SIGKILL');
    await redisServer.stop();
    throw error;
  }
}

async function stopRig(rig: Rig): Promise<void> {
  await rig.events.close();
  await rig.queue.close();
  if (rig.worker.exitCode === null && rig.worker.signalCode === null) {
    const exited = new Promise((resolve) => rig.worker.once('exit', resolve));
    rig.worker.kill('SIGTERM');
    await exited;
  }
  await rig.redisServer.stop();
}

function createBullmqSystem(rig: Rig): ClosedLoopSystem {
  return {
    async runOne(index) {
      // Finished jobs are kept: waitUntilFinished reads the job after it subscribes, and a job
      // already removed on completion fails it with "Missing key" (this server is thrown away).
      const job = await rig.queue.add('noop', { index });
      await job.waitUntilFinished(rig.events, 60_000);
    },
    // A job is complete when its completion is seen: nothing trails behind it.
    quiet: async () => undefined,
    processes: () => [
      { name: 'redis-server', pid: rig.redisServer.pid(), counted: true },
      { name: BULLMQ_WORKER, pid: rig.worker.pid, counted: true },
      benchClientProcess(),
    ],
  };
}

export function benchBullmq(benchScript: string, options: ClosedLoopOptions): Promise<ClosedLoopResult> {
  return withResource(
    () => startRig(benchScript, options.concurrency),
    stopRig,
    (rig) => measureClosedLoop(createBullmqSystem(rig), options),
  );
}
