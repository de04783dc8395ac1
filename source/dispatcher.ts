// Delivery slots, strict priority, in-progress acks and drain, over any message port (the real
// one is JetStream, see pull.ts; unit tests use a fake). The rule, in docs/decisions/0006-source-priority.md:
// - a free slot is always filled from the highest-priority consumer that has a message: for each
//   consumer in priority order, a message already pulled (held) goes first, else a no_wait pull;
// - only as many messages are pulled as there are free slots (backpressure). When every consumer
//   is empty, one long-poll pull (batch 1) waits on each consumer in parallel, so the loop sleeps
//   instead of spinning; what those polls bring while no slot is free is held (at most one per
//   consumer), counted as in flight for in-progress acks, and delivered by the rule above;
// - strict priority, no anti-starvation rule: under saturation by high-priority work, lower
//   priorities wait (the design asks for strict priority; JetStream keeps them safely);
// - every message in flight or held gets +WPI every `workingIntervalMs` (AckWait / 3), so a slow
//   delivery is never redelivered while it is still running;
// - pull errors (NATS restarting, a 409) back off exponentially and the loop carries on; the
//   connection reconnects by itself.
// Batching (several events per request) would plug in here: take up to N messages of one consumer
// for one `deliver` call. Handlers and the runtime stay as they are.
import type { Logger } from '../shared/logger';
import { describeError } from '../shared/errors';

export type DispatcherPort<M> = {
  /** Number of consumers; index 0 is the highest priority. */
  readonly consumerCount: number;
  /** One message now (no_wait), or null when the consumer has none. */
  pullNow(index: number): Promise<M | null>;
  /** One message, waiting server-side up to the poll expiry; null when none came. */
  pullWait(index: number): Promise<M | null>;
  /** Delivers and settles (ack/nak/term) the message. `abandon` fires when shutdown gives up. */
  deliver(message: M, abandon: AbortSignal): Promise<unknown>;
  /** In-progress ack (+WPI). */
  working(message: M): void;
  /** Hands a message back for immediate redelivery (nak, no delay). */
  release(message: M): Promise<void>;
};

export type DispatcherOptions = {
  maxInFlight: number;
  workingIntervalMs: number;
  logger: Logger;
  /** First pause after a failed pull; doubles per failure up to `maxBackoffMs`. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  onPullError?: () => void;
};

export type Dispatcher = {
  start(): void;
  /** Stops pulling, hands back held messages, waits for deliveries up to `graceMs`; true when
   * everything settled in time (otherwise the rest is abandoned to AckWait redelivery). */
  stop(graceMs: number): Promise<boolean>;
  inFlight(): number;
  held(): number;
};

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

export function createDispatcher<M>(port: DispatcherPort<M>, options: DispatcherOptions): Dispatcher {
  const { logger } = options;
  const count = port.consumerCount;
  const minBackoffMs = options.minBackoffMs ?? 250;
  const maxBackoffMs = options.maxBackoffMs ?? 5_000;
  const held: M[][] = Array.from({ length: count }, () => []);
  const polling: boolean[] = Array.from({ length: count }, () => false);
  const deliveries = new Set<Promise<void>>();
  const polls = new Set<Promise<void>>();
  /** In flight or held: what gets in-progress acks. */
  const tracked = new Set<M>();
  const stopping = new AbortController();
  const abandon = new AbortController();
  let failures = 0;
  let loop: Promise<void> | undefined;
  let ticker: NodeJS.Timeout | undefined;
  let stopped: Promise<boolean> | undefined;

  // A level-triggered wake-up: a wake that comes while the loop is busy is not lost.
  let wakeUp: (() => void) | undefined;
  let woken = false;
  const wake = () => {
    woken = true;
    const resolve = wakeUp;
    wakeUp = undefined;
    resolve?.();
  };
  const sleep = () =>
    new Promise<void>((resolve) => {
      if (woken) resolve();
      else wakeUp = resolve;
    }).then(() => {
      woken = false;
    });

  const free = () => options.maxInFlight - deliveries.size;

  const pullFailed = (error: unknown, what: string) => {
    failures += 1;
    options.onPullError?.();
    if (failures === 1 || failures % 20 === 0) {
      logger.warn({ err: describeError(error), failures }, `${what} failed; backing off`);
    }
  };

  const release = async (message: M) => {
    tracked.delete(message);
    try {
      await port.release(message);
    } catch (error) {
      logger.warn({ err: describeError(error) }, 'could not hand a message back: JetStream redelivers it after AckWait');
    }
  };

  const launch = (message: M) => {
    tracked.add(message);
    const delivery: Promise<void> = port
      .deliver(message, abandon.signal)
      .then(
        () => undefined,
        (error: unknown) => {
          logger.error({ err: describeError(error) }, 'delivery failed unexpectedly');
        },
      )
      .finally(() => {
        tracked.delete(message);
        deliveries.delete(delivery);
        wake();
      });
    deliveries.add(delivery);
  };

  /** Fills free slots in strict priority order; throws when a pull fails. */
  const fillSlots = async () => {
    for (let index = 0; index < count; index += 1) {
      while (free() > 0 && !stopping.signal.aborted) {
        const waiting = held[index]!.shift();
        if (waiting !== undefined) {
          launch(waiting);
          continue;
        }
        const message = await port.pullNow(index);
        failures = 0;
        if (message === null) break;
        if (stopping.signal.aborted) {
          await release(message);
          return;
        }
        launch(message);
      }
      if (free() === 0 || stopping.signal.aborted) return;
    }
  };

  /** Every consumer was empty: wait for the next message on each of them, in parallel. */
  const startPolls = () => {
    for (let index = 0; index < count; index += 1) {
      if (polling[index]) continue;
      polling[index] = true;
      const poll: Promise<void> = port
        .pullWait(index)
        .then(
          async (message) => {
            failures = 0;
            if (message === null) return;
            if (stopping.signal.aborted) {
              await release(message);
              return;
            }
            held[index]!.push(message);
            tracked.add(message);
          },
          (error: unknown) => pullFailed(error, 'long-poll pull'),
        )
        .finally(() => {
          polling[index] = false;
          polls.delete(poll);
          wake();
        });
      polls.add(poll);
    }
  };

  const run = async () => {
    while (!stopping.signal.aborted) {
      if (failures > 0) {
        await delay(Math.min(minBackoffMs * 2 ** (failures - 1), maxBackoffMs), stopping.signal);
        if (stopping.signal.aborted) break;
      }
      try {
        await fillSlots();
      } catch (error) {
        pullFailed(error, 'pull');
        continue;
      }
      if (stopping.signal.aborted) break;
      if (free() > 0) startPolls();
      await sleep();
    }
  };

  return {
    start() {
      if (loop) return;
      ticker = setInterval(() => {
        for (const message of tracked) port.working(message);
      }, options.workingIntervalMs);
      loop = run().catch((error: unknown) => {
        logger.error({ err: describeError(error) }, 'pull loop crashed');
      });
    },
    stop(graceMs) {
      stopped ??= (async () => {
        stopping.abort();
        wake();
        await loop;
        await Promise.all(held.flatMap((queue) => queue.splice(0)).map(release));
        const everything = Promise.all([...deliveries, ...polls]).then(() => true);
        const settled = await Promise.race([everything, delay(graceMs).then(() => false)]);
        if (!settled) {
          logger.warn({ inFlight: deliveries.size }, 'grace period over: abandoning deliveries still in flight');
          abandon.abort();
          await Promise.race([Promise.all(deliveries), delay(1_000)]);
        }
        clearInterval(ticker);
        return settled;
      })();
      return stopped;
    },
    inFlight: () => deliveries.size,
    held: () => held.reduce((sum, queue) => sum + queue.length, 0),
  };
}
