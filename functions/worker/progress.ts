// Progress reporting for a running attempt. Every report is a status event that travels
// through JetStream and the notifier, so it is throttled: only a higher percentage counts, and
// no more than one per interval, except 100 which always goes out (the client sees the end).
// A report the interval holds back is not lost: the highest one held goes out when the interval
// has passed (unless a later report went out first), so the last word of a handler that reports
// once and then works for minutes is still seen.

export type ProgressReporter = {
  /** Publishes when the throttle allows, or later; never rejects (progress is best effort). */
  report(percent: number, message?: string): Promise<void>;
  /** Ignores every later report and drops a held one (the attempt has ended). */
  close(): void;
};

/** Runs `fn` after `ms`; returns a canceller. */
export type Schedule = (fn: () => void, ms: number) => () => void;

export type ProgressOptions = {
  publish(percent: number, message: string | undefined): Promise<void>;
  onError(error: unknown): void;
  now: () => number;
  minIntervalMs: number;
  /** Default: an unref'd setTimeout. */
  schedule?: Schedule;
};

export function toPercent(value: number): number {
  return Math.round(Math.min(Math.max(value, 0), 100));
}

const scheduleTimer: Schedule = (fn, ms) => {
  const timer = setTimeout(fn, ms);
  timer.unref();
  return () => clearTimeout(timer);
};

export function createProgressReporter(options: ProgressOptions): ProgressReporter {
  const schedule = options.schedule ?? scheduleTimer;
  let last = 0;
  // The RUNNING status that precedes the run counts as the first report.
  let lastAtMs = options.now();
  let closed = false;
  let held: { percent: number; message: string | undefined } | undefined;
  let cancelHeld: (() => void) | undefined;

  const dropHeld = () => {
    held = undefined;
    cancelHeld?.();
    cancelHeld = undefined;
  };

  const publish = async (percent: number, message: string | undefined) => {
    last = percent;
    lastAtMs = options.now();
    dropHeld();
    try {
      await options.publish(percent, message);
    } catch (error) {
      options.onError(error);
    }
  };

  const hold = (percent: number, message: string | undefined) => {
    held = { percent, message };
    cancelHeld ??= schedule(
      () => {
        cancelHeld = undefined;
        if (!closed && held && held.percent > last) void publish(held.percent, held.message);
      },
      Math.max(lastAtMs + options.minIntervalMs - options.now(), 0),
    );
  };

  return {
    async report(value, text) {
      if (closed || typeof value !== 'number' || Number.isNaN(value)) return;
      const percent = toPercent(value);
      if (percent <= last || percent <= (held?.percent ?? 0)) return;
      const message = typeof text === 'string' && text !== '' ? text : undefined;
      if (percent < 100 && options.now() - lastAtMs < options.minIntervalMs) return hold(percent, message);
      await publish(percent, message);
    },
    close() {
      closed = true;
      dropHeld();
    },
  };
}
