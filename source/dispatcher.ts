// Delivery slots, strict priority, credit for the standing pulls, in-progress acks and drain,
// over any feed port (the real one is JetStream, pull-feed.ts; unit tests use a fake). The rule,
// in docs/decisions/0006-source-priority.md:
// - a free slot is always filled from the highest-priority consumer with work: a message waiting
//   here, or messages still in JetStream. Every pulled message says how many more its consumer
//   had (the ack subject's pending count); while a higher-priority consumer has more, its messages
//   are pulled and lower-priority ones already here keep waiting;
// - credit (messages asked for and on their way) is given per consumer from the free slots: the
//   highest priority gets every free slot, each lower one the free slots minus what the higher
//   ones already hold here, so a burst of high-priority work keeps lower priorities waiting in
//   JetStream, not here. What arrives beyond the free slots (every consumer got credit while all
//   were idle) waits here, counted as held, with in-progress acks, and goes out by the rule above;
// - a consumer is asked for more only once half of its share is unasked for: one request per
//   batch, not one per message;
// - strict priority, no anti-starvation rule: under saturation by high-priority work, lower
//   priorities wait (the design asks for strict priority; JetStream keeps them safely);
// - every message in flight or held gets +WPI every `workingIntervalMs` (AckWait / 3), so a slow
//   delivery is never redelivered while it is still running;
// - memory stays bounded: at most the slots in flight plus, per consumer, its credit.
import type { Logger } from '../shared/logger';
import { describeError } from '../shared/errors';

export type DispatcherPort<M> = {
  /** Number of consumers; index 0 is the highest priority. */
  readonly consumerCount: number;
  /** Messages of consumer `index` asked for and not arrived yet. */
  outstanding(index: number): number;
  /** A probe of consumer `index` is out: whether it has work is not known yet. */
  probing(index: number): boolean;
  /** Asks consumer `index` for `count` more messages: standing, or a probe answered at once. */
  pull(index: number, count: number, mode: 'standing' | 'probe'): void;
  /** Delivers and settles (ack/nak/term) the message. `abandon` fires when shutdown gives up. */
  deliver(message: M, abandon: AbortSignal): Promise<unknown>;
  /** In-progress ack (+WPI). */
  working(message: M): void;
  /** Hands a message back for immediate redelivery (nak, no delay). */
  release(message: M): void;
};

export type DispatcherOptions = {
  maxInFlight: number;
  workingIntervalMs: number;
  logger: Logger;
  /** False while pulls would be lost (the connection is down); the dispatcher pulls once it is back. */
  canPull?: () => boolean;
};

export type Dispatcher<M> = {
  /** Starts pulling (once the sink listens). */
  start(): void;
  /** A message arrived from consumer `index`, which had `pendingAfter` more waiting in JetStream. */
  accept(index: number, message: M, pendingAfter?: number): void;
  /** Credit changed outside of deliveries (requests expired, lost, refused): pull again as needed. */
  refill(): void;
  /** Stops pulling, hands back held messages, waits for deliveries up to `graceMs`; true when
   * everything settled in time (otherwise the rest is abandoned to AckWait redelivery). */
  stop(graceMs: number): Promise<boolean>;
  inFlight(): number;
  held(): number;
};

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/**
 * Waits up to `graceMs` for the deliveries in flight; then abandons them (their `abandon` signal
 * fires) and gives them a second to settle. True when everything settled within the grace period.
 * Apart from createDispatcher as the one step of stop() that takes time.
 */
async function settleDeliveries(
  deliveries: ReadonlySet<Promise<void>>,
  abandon: AbortController,
  graceMs: number,
  logger: Logger,
): Promise<boolean> {
  const everything = Promise.all(deliveries).then(() => true);
  const settled = await Promise.race([everything, delay(graceMs).then(() => false)]);
  if (!settled) {
    logger.warn({ inFlight: deliveries.size }, 'grace period over: abandoning deliveries still in flight');
    abandon.abort();
    await Promise.race([Promise.all(deliveries), delay(1_000)]);
  }
  return settled;
}

export function createDispatcher<M>(port: DispatcherPort<M>, options: DispatcherOptions): Dispatcher<M> {
  const { logger, maxInFlight } = options;
  const count = port.consumerCount;
  const half = Math.max(1, Math.ceil(maxInFlight / 2));
  const waiting: M[][] = Array.from({ length: count }, () => []);
  /** Messages each consumer still had in JetStream when its last message came. */
  const pendingAfter: number[] = Array.from({ length: count }, () => 0);
  const deliveries = new Set<Promise<void>>();
  /** In flight or held: what gets in-progress acks. */
  const tracked = new Set<M>();
  const abandon = new AbortController();
  let started = false;
  let stopping = false;
  let ticker: NodeJS.Timeout | undefined;
  let stopped: Promise<boolean> | undefined;

  const release = (message: M) => {
    tracked.delete(message);
    try {
      port.release(message);
    } catch (error) {
      logger.warn({ err: describeError(error) }, 'could not hand a message back: JetStream redelivers it after AckWait');
    }
  };

  const launch = (message: M) => {
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
        pump();
      });
    deliveries.add(delivery);
  };

  /**
   * Whether consumer `index` is known to have no work beside what waits here: a request of it is
   * open that a probe left standing (the server would have delivered on it), and its last message
   * said none was left.
   */
  const knownEmpty = (index: number) =>
    port.outstanding(index) > 0 && !port.probing(index) && pendingAfter[index] === 0;

  /**
   * Asks each consumer for its share of the free slots, once half of that is unasked for. A
   * higher-priority consumer with no request open is probed first, and lower ones get credit only
   * once its answer says whether it has work: strict priority without polling an idle consumer.
   */
  const topUp = () => {
    if (!started || stopping || options.canPull?.() === false) return;
    const free = maxInFlight - deliveries.size;
    let heldAbove = 0;
    for (let index = 0; index < count; index += 1) {
      heldAbove += waiting[index]!.length;
      if (port.probing(index)) return;
      const outstanding = port.outstanding(index);
      const want = free - heldAbove - outstanding;
      if (index < count - 1 && outstanding === 0 && want > 0) {
        port.pull(index, want, 'probe');
        return;
      }
      if (want >= half) port.pull(index, want, 'standing');
    }
  };

  /** Fills free slots in strict priority order, then tops up credit. */
  const pump = () => {
    if (stopping) return;
    for (let index = 0; index < count && deliveries.size < maxInFlight; index += 1) {
      const queue = waiting[index]!;
      while (queue.length > 0 && deliveries.size < maxInFlight) launch(queue.shift() as M);
      // This priority may have more in JetStream: lower priorities wait until that is known.
      if (index < count - 1 && !knownEmpty(index)) break;
    }
    topUp();
  };

  return {
    start() {
      if (started || stopping) return;
      started = true;
      ticker = setInterval(() => {
        for (const message of tracked) port.working(message);
      }, options.workingIntervalMs);
      topUp();
    },
    accept(index, message, pending = 0) {
      if (stopping) {
        release(message);
        return;
      }
      pendingAfter[index] = pending;
      tracked.add(message);
      waiting[index]!.push(message);
      pump();
    },
    // Credit changed (a probe answered, requests expired or were lost): serve what may go now, pull.
    refill: pump,
    stop(graceMs) {
      stopped ??= (async () => {
        stopping = true;
        for (const queue of waiting) for (const message of queue.splice(0)) release(message);
        const settled = await settleDeliveries(deliveries, abandon, graceMs, logger);
        clearInterval(ticker);
        return settled;
      })();
      return stopped;
    },
    inFlight: () => deliveries.size,
    held: () => waiting.reduce((sum, queue) => sum + queue.length, 0),
  };
}
