// Progress reporting for a running attempt. Every report is a status event that travels
// through JetStream and the notifier, so it is throttled: only a higher percentage counts, and
// no more than one per interval, except 100 which always goes out (the client sees the end).

export type ProgressReporter = {
  /** Publishes when the throttle allows; never rejects (progress is best effort). */
  report(percent: number): Promise<void>;
  /** Ignores every later report (the attempt has ended). */
  close(): void;
};

export type ProgressOptions = {
  publish(percent: number): Promise<void>;
  onError(error: unknown): void;
  now: () => number;
  minIntervalMs: number;
};

export function toPercent(value: number): number {
  return Math.round(Math.min(Math.max(value, 0), 100));
}

export function createProgressReporter(options: ProgressOptions): ProgressReporter {
  let last = 0;
  // The RUNNING status that precedes the run counts as the first report.
  let lastAtMs = options.now();
  let closed = false;
  return {
    async report(value) {
      if (closed || typeof value !== 'number' || Number.isNaN(value)) return;
      const percent = toPercent(value);
      if (percent <= last) return;
      const at = options.now();
      if (percent < 100 && at - lastAtMs < options.minIntervalMs) return;
      last = percent;
      lastAtMs = at;
      try {
        await options.publish(percent);
      } catch (error) {
        options.onError(error);
      }
    },
    close() {
      closed = true;
    },
  };
}
