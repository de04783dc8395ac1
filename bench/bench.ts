// `npm run bench` (docs/performance.md): throughput and latency of echo tasks end to end against
// a BullMQ baseline, CPU per task over every process of the stack, a 10,000-task burst with each
// process's memory, and each bundle's cold start; one section per figure with its target, then
// one JSON line with every number. Environment: bench/config.ts.
//
// `node dist/bench.cjs --bullmq-worker <redis port>` is the BullMQ baseline's worker process.
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { BULLMQ_READY_LINE, startBullmqWorker } from './bullmq-worker';
import { loadBenchConfig } from './config';
import { runBench } from './phases';
import { readClockTicks } from './proc';
import { toJsonLine } from './report';
import { stopEverything } from './resources';

function onSignal(stop: () => Promise<void>, code: number): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void stop().finally(() => process.exit(code)));
  }
}

async function bullmqWorkerMain(redisPort: number): Promise<void> {
  const worker = await startBullmqWorker(redisPort);
  process.stdout.write(`${BULLMQ_READY_LINE}\n`);
  onSignal(() => worker.close(), 0);
}

async function benchMain(): Promise<void> {
  // Ctrl-C stops whatever stack or server is running, so none is left loading the machine.
  onSignal(stopEverything, 130);
  const config = loadBenchConfig(process.env);
  const results = await runBench(config, {
    meta: {
      startedAt: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
      loadAverage: loadavg(),
      clockTicksPerSecond: readClockTicks(),
    },
    benchScript: process.argv[1]!,
    distDir: resolve('dist'),
    root: process.cwd(),
    print: (lines) => process.stdout.write(`${lines.join('\n')}\n`),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`\n${toJsonLine(results)}\n`);
  if (results.failures.length > 0) process.exitCode = 1;
}

function fail(error: unknown): void {
  process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
}

if (process.argv[2] === '--bullmq-worker') bullmqWorkerMain(Number(process.argv[3])).catch(fail);
else benchMain().then(() => process.exit(), fail);
