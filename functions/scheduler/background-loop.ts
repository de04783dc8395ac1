// The loop that runs a scheduler's background work (the delayed-task promoter, the reconciler)
// beside its HTTP handler: one round, a pause, again, until stopped. A failing round (Redis or
// NATS down) is logged once per distinct error, not once per round, and costs a round, not the loop.
import { describeError } from '../../shared/errors';
import type { Logger } from '../../shared/logger';

export type BackgroundLoopOptions = {
  intervalMs: number;
  logger: Logger;
  /** Names the work in log lines ("promoter", "reconciler"). */
  name?: string;
};

/** Runs rounds until stopped; the returned stopper waits for the current round to finish. */
export function startBackgroundLoop(work: { runOnce(): Promise<number> }, options: BackgroundLoopOptions): () => Promise<void> {
  const name = options.name ?? 'promoter';
  let stopped = false;
  let wake: (() => void) | undefined;
  let lastError = '';

  const pause = () =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, options.intervalMs);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  const loop = (async () => {
    while (!stopped) {
      try {
        const done = await work.runOnce();
        if (lastError) options.logger.info(`${name} recovered`);
        lastError = '';
        if (done > 0) options.logger.debug({ done }, `${name} round done`);
      } catch (error) {
        const message = describeError(error);
        if (message !== lastError) options.logger.warn({ err: message }, `${name} round failed; retrying`);
        lastError = message;
      }
      if (!stopped) await pause();
    }
  })();

  return async () => {
    stopped = true;
    wake?.();
    await loop;
  };
}
