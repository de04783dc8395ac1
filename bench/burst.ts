// The burst: `burst` echo tasks submitted as fast as the gateway takes them (several gRPC
// channels, many calls in flight, nobody waiting on a task), then the time until every one is
// terminal, read from the status hashes in Redis; meanwhile every process's memory is sampled.
import type { Redis } from '../shared/redis';
import { createTaskManagerClient } from '../client/client';
import { isTerminal, KEYS } from '../shared/contract';
import type { TestStack } from '../test/helpers/stack';
import type { TimeWindow } from './cpuprofile';
import { nowUs } from './profiles';
import { withResource } from './resources';
import { sampleMemory, toPeakMiB } from './rss';
import { stackProcesses, startBenchStack, stopBenchStack, unexpectedExits, type BenchStackOptions, type ProcessExit } from './stack';
import { runPool } from './stats';

export type BurstOptions = {
  burst: number;
  concurrency: number;
  clients: number;
  maxSeconds: number;
  log: (line: string) => void;
} & BenchStackOptions;

export type ProcessMemory = { name: string; startMiB: number; sampledMiB: number; hwmMiB: number; peakMiB: number; restarted: boolean };

export type BurstResult = {
  requested: number;
  submitted: number;
  submitFailed: number;
  firstSubmitFailure?: string;
  /** From the first submit to the last accepted one. */
  submitSeconds: number;
  /** Every submitted task terminal before the time cap. */
  drained: boolean;
  terminal: number;
  /** From the first submit until every task was terminal (or the cap). */
  drainSeconds: number;
  states: Record<string, number>;
  memory: ProcessMemory[];
  /** Processes that exited during the burst and were restarted. */
  exits: ProcessExit[];
  maxPeakMiB: number;
  maxPeakProcess: string;
};

const POLL_MS = 500;
const PROGRESS_MS = 15_000;
/** Tasks read per round trip. Polling all 10,000 every 500 ms would load Redis and the bench
 * with 20,000 reads a second on a two-core machine and slow what it measures. */
const READ_CHUNK = 1_000;

/** The state of each task, in one pipelined round trip. */
async function readStates(redis: Redis, ids: readonly string[]): Promise<(string | undefined)[]> {
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.hget(KEYS.status(id), 'state');
  return ((await pipeline.exec()) ?? []).map(([error, value]) => (error ? undefined : ((value as string | null) ?? undefined)));
}

async function submitAll(stack: TestStack, options: BurstOptions): Promise<{ ids: string[]; failed: number; firstFailure?: string }> {
  const clients = Array.from({ length: options.clients }, () => createTaskManagerClient({ address: stack.gatewayAddress, deadlineMs: 120_000 }));
  const ids: string[] = [];
  try {
    const run = await runPool(options.burst, options.concurrency, async (index) => {
      const { taskId } = await clients[index % clients.length]!.submit({ type: 'echo', payload: { index }, priority: 'medium' });
      ids.push(taskId);
    });
    return { ids, failed: run.failed, ...(run.firstFailure === undefined ? {} : { firstFailure: run.firstFailure }) };
  } finally {
    for (const client of clients) client.close();
  }
}

/**
 * One poll: reads the oldest open tasks, records the terminal ones, and goes on to the next chunk
 * at once while a whole chunk was terminal. Tasks end roughly in the order they were submitted,
 * so the frontier is found in a few reads, and a terminal state, being final, is never read
 * twice. A sweep reads every open task (for an exact progress count: one slow task holds the
 * frontier back while later ones end). Returns the tasks still open, oldest first.
 */
export async function pollTerminal(
  read: (ids: readonly string[]) => Promise<(string | undefined)[]>,
  open: readonly string[],
  states: Map<string, string>,
  options: { chunkSize?: number; sweep?: boolean } = {},
): Promise<string[]> {
  const chunkSize = options.chunkSize ?? READ_CHUNK;
  const stillOpen: string[] = [];
  for (let start = 0; start < open.length; start += chunkSize) {
    const chunk = open.slice(start, start + chunkSize);
    const found = await read(chunk);
    const openInChunk = chunk.filter((id, i) => {
      const state = found[i];
      if (state === undefined || !isTerminal(state)) return true;
      states.set(id, state);
      return false;
    });
    stillOpen.push(...openInChunk);
    if (openInChunk.length > 0 && !options.sweep) return [...stillOpen, ...open.slice(start + chunkSize)];
  }
  return stillOpen;
}

/** Polls until every task is terminal or the deadline passes; the last task's end is seen within
 * one poll interval. Every 15 s a sweep of every open task gives the progress line. */
async function waitForTerminal(
  redis: Redis,
  ids: readonly string[],
  started: number,
  deadline: number,
  log: (line: string) => void,
): Promise<{ states: Map<string, string>; doneAt: number }> {
  const states = new Map<string, string>();
  let open: readonly string[] = ids;
  let lastProgress = performance.now();
  for (;;) {
    const sweep = performance.now() - lastProgress >= PROGRESS_MS;
    open = await pollTerminal((chunk) => readStates(redis, chunk), open, states, { sweep });
    const now = performance.now();
    if (open.length === 0 || now >= deadline) return { states, doneAt: now };
    if (sweep) {
      lastProgress = now;
      log(`bench: burst: ${states.size} of ${ids.length} terminal after ${((now - started) / 1000).toFixed(0)} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function runBurst(stack: TestStack, options: BurstOptions): Promise<{ burst: BurstResult; window: TimeWindow }> {
  const sampler = sampleMemory(() => stackProcesses(stack));
  const startUs = nowUs();
  const started = performance.now();
  options.log(`bench: burst: submitting ${options.burst} tasks (${options.clients} channels, ${options.concurrency} calls in flight)`);
  const submitted = await submitAll(stack, options);
  const submitSeconds = (performance.now() - started) / 1000;
  options.log(`bench: burst: ${submitted.ids.length} submitted in ${submitSeconds.toFixed(1)} s; waiting for every task to end`);
  const { states, doneAt } = await waitForTerminal(stack.redis, submitted.ids, started, started + options.maxSeconds * 1000, options.log);
  const peaks = sampler.stop();
  const window = { startUs, endUs: nowUs() };

  const counts: Record<string, number> = {};
  for (const state of states.values()) counts[state] = (counts[state] ?? 0) + 1;
  const memory = [...peaks.values()]
    .map((peak) => ({
      name: peak.name,
      startMiB: peak.firstMiB,
      sampledMiB: peak.sampledMiB,
      hwmMiB: peak.hwmMiB,
      peakMiB: toPeakMiB(peak),
      restarted: peak.pids.length > 1,
    }))
    .sort((a, b) => b.peakMiB - a.peakMiB);
  const burst: BurstResult = {
    requested: options.burst,
    submitted: submitted.ids.length,
    submitFailed: submitted.failed,
    ...(submitted.firstFailure === undefined ? {} : { firstSubmitFailure: submitted.firstFailure }),
    submitSeconds,
    drained: states.size === submitted.ids.length,
    terminal: states.size,
    drainSeconds: (doneAt - started) / 1000,
    states: counts,
    memory,
    exits: unexpectedExits(stack),
    maxPeakMiB: memory[0]?.peakMiB ?? NaN,
    maxPeakProcess: memory[0]?.name ?? '',
  };
  return { burst, window };
}

/** The burst's figures, and its window on the CPU profiles' clock (first submit → drained). */
export function benchBurst(options: BurstOptions): Promise<{ burst: BurstResult; window: TimeWindow }> {
  return withResource(
    () => startBenchStack('burst', options),
    async (stack) => {
      const unclean = await stopBenchStack(stack);
      if (unclean.length > 0) options.log(`bench: did not exit cleanly (no CPU profile from them): ${unclean.join(', ')}`);
    },
    (stack) => runBurst(stack, options),
  );
}
