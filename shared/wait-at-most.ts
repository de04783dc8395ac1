// A bounded wait for the steps of a stop: draining a connection, flushing telemetry, letting
// deliveries in flight settle. Each must not hold the stop longer than its share of the grace
// period, whatever the other side does.

/**
 * Waits for `work` to settle, but at most `ms`. True when it settled in time; a rejection counts
 * as settled (at a stop there is nothing left to do about it). The timer neither keeps the process
 * alive nor outlives the wait.
 */
export async function waitAtMost(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  const settled = work.then(
    () => true as const,
    () => true as const,
  );
  try {
    return await Promise.race([settled, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
