// Closed-loop runs and their figures: a pool of clients that each start the next task when the
// previous one ends, stopped early by a time cap, and the percentiles of what it measured.

/** Percentile of sorted-ascending samples (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(Math.max(rank - 1, 0), sorted.length - 1)]!;
}

/** Median of unsorted samples (the lower middle one for an even count, as nearest rank). */
export function median(samples: readonly number[]): number {
  return percentile([...samples].sort((a, b) => a - b), 50);
}

export type PoolResult = {
  /** Tasks the run was asked for. */
  requested: number;
  /** Latency of every task that ended well, in ms. */
  latenciesMs: number[];
  failed: number;
  /** The first failure's message, so a broken run says why. */
  firstFailure?: string;
  /** The time cap stopped the run before every requested task started. */
  capped: boolean;
};

export type PoolOptions = {
  /** No task starts at or after this time (in `now()`'s clock); the ones running finish. */
  deadlineMs?: number;
  now?: () => number;
};

/** Runs `task` up to `count` times with at most `concurrency` at once; a failed task is counted,
 * not thrown, so one stuck task does not throw away minutes of measurement. */
export async function runPool(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
  options: PoolOptions = {},
): Promise<PoolResult> {
  const now = options.now ?? (() => performance.now());
  const result: PoolResult = { requested: count, latenciesMs: [], failed: 0, capped: false };
  let next = 0;
  const lane = async () => {
    for (;;) {
      if (next >= count) return;
      if (options.deadlineMs !== undefined && now() >= options.deadlineMs) {
        result.capped = true;
        return;
      }
      const index = next;
      next += 1;
      const started = now();
      try {
        await task(index);
        result.latenciesMs.push(now() - started);
      } catch (error) {
        result.failed += 1;
        result.firstFailure ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  return result;
}

export type RunSummary = {
  name: string;
  requested: number;
  /** Tasks that ended well (the throughput counts these). */
  tasks: number;
  failed: number;
  firstFailure?: string;
  capped: boolean;
  seconds: number;
  throughputPerSecond: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
};

export function summarize(name: string, run: PoolResult, seconds: number): RunSummary {
  const sorted = [...run.latenciesMs].sort((a, b) => a - b);
  return {
    name,
    requested: run.requested,
    tasks: sorted.length,
    failed: run.failed,
    ...(run.firstFailure === undefined ? {} : { firstFailure: run.firstFailure }),
    capped: run.capped,
    seconds,
    throughputPerSecond: seconds > 0 ? sorted.length / seconds : NaN,
    p50Ms: percentile(sorted, 50),
    p95Ms: percentile(sorted, 95),
    p99Ms: percentile(sorted, 99),
  };
}
