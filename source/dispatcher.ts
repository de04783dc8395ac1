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
// - memory stays bounded: at most the slots in flight plus, per consumer, its credit;
// - a paused consumer (its queue paused: source/pause-gate.ts) is out of the rule: its requests
//   are withdrawn and it gets no credit and no slot, so the others keep their strict priority as
//   if it did not exist. What it had pulled already, or still gets from a request withdrawn at
//   that moment, waits here with in-progress acks. Not nak'd: JetStream would count its next
//   delivery as one more attempt, spent on nothing; held, it goes out once, on its first count.
//   Deliveries in flight finish as usual. On resume its waiting messages go first, by the same
//   rule, then it pulls again.
import type { Logger } from '../shared/logger';
import { describeError } from '../shared/errors';
import { waitAtMost } from '../shared/wait-at-most';

export type DispatcherPort<M> = {
  /** Number of consumers; index 0 is the highest priority. */
  readonly consumerCount: number;
  /** Messages of consumer `index` asked for and not arrived yet. */
  outstanding(index: number): number;
  /** A probe of consumer `index` is out: whether it has work is not known yet. */
  probing(index: number): boolean;
  /** Asks consumer `index` for `count` more messages: standing, or a probe answered at once. */
  pull(index: number, count: number, mode: 'standing' | 'probe'): void;
  /** Withdraws consumer `index`'s outstanding requests (outstanding becomes 0); what the server
   * sent before may still arrive through `accept`. */
  cancel(index: number): void;
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
  /** False while pulls would be lost (the connection is down) or must wait (the pause state is
   * not known yet); the dispatcher pulls once it turns true and `refill` is called. */
  canPull?: () => boolean;
};

/** What one consumer has here: for /healthz and /metrics. */
export type ConsumerState = { paused: boolean; inFlight: number; held: number };

export type Dispatcher<M> = {
  /** Starts pulling (once the sink listens). */
  start(): void;
  /** A message arrived from consumer `index`, which had `pendingAfter` more waiting in JetStream. */
  accept(index: number, message: M, pendingAfter?: number): void;
  /** Credit changed outside of deliveries (requests expired, lost, refused): pull again as needed. */
  refill(): void;
  /** Stops pulling consumer `index` and holds what still arrives for it (see the top of the file). */
  pause(index: number): void;
  /** Delivers what consumer `index` holds, then pulls it again. */
  resume(index: number): void;
  /** Stops pulling, hands back held messages, waits for deliveries up to `graceMs`; true when
   * everything settled in time (otherwise the rest is abandoned to AckWait redelivery). */
  stop(graceMs: number): Promise<boolean>;
  inFlight(): number;
  held(): number;
  consumer(index: number): ConsumerState;
};

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
  const settled = await waitAtMost(Promise.all(deliveries), graceMs);
  if (!settled) {
    logger.warn({ inFlight: deliveries.size }, 'grace period over: abandoning deliveries still in flight');
    abandon.abort();
    await waitAtMost(Promise.all(deliveries), 1_000);
  }
  return settled;
}

/** One consumer's part of the dispatcher. */
type Lane<M> = {
  /** Pulled and waiting for a slot (or for the consumer to be resumed): held. */
  waiting: M[];
  /** Messages the consumer still had in JetStream when its last message came. */
  pendingAfter: number;
  paused: boolean;
  inFlight: number;
};

/** Everything the steps below share: each step is a module function over it. */
type DispatchState<M> = {
  readonly port: DispatcherPort<M>;
  readonly options: DispatcherOptions;
  /** A consumer is asked for more once this much of its share is unasked for. */
  readonly half: number;
  readonly lanes: Lane<M>[];
  readonly deliveries: Set<Promise<void>>;
  /** In flight or held: what gets in-progress acks. */
  readonly tracked: Set<M>;
  readonly abandon: AbortController;
  started: boolean;
  stopping: boolean;
};

function release<M>(state: DispatchState<M>, message: M): void {
  state.tracked.delete(message);
  try {
    state.port.release(message);
  } catch (error) {
    state.options.logger.warn({ err: describeError(error) }, 'could not hand a message back: JetStream redelivers it after AckWait');
  }
}

function launch<M>(state: DispatchState<M>, index: number, message: M): void {
  const lane = state.lanes[index]!;
  lane.inFlight += 1;
  const delivery: Promise<void> = state.port
    .deliver(message, state.abandon.signal)
    .then(
      () => undefined,
      (error: unknown) => {
        state.options.logger.error({ err: describeError(error) }, 'delivery failed unexpectedly');
      },
    )
    .finally(() => {
      lane.inFlight -= 1;
      state.tracked.delete(message);
      state.deliveries.delete(delivery);
      pump(state);
    });
  state.deliveries.add(delivery);
}

/**
 * Whether consumer `index` is known to have no work beside what waits here: a request of it is
 * open that a probe left standing (the server would have delivered on it), and its last message
 * said none was left.
 */
function knownEmpty<M>(state: DispatchState<M>, index: number): boolean {
  const { port } = state;
  return port.outstanding(index) > 0 && !port.probing(index) && state.lanes[index]!.pendingAfter === 0;
}

/**
 * Asks each consumer for its share of the free slots, once half of that is unasked for. A
 * higher-priority consumer with no request open is probed first, and lower ones get credit only
 * once its answer says whether it has work: strict priority without polling an idle consumer.
 * A paused consumer is skipped, and what it holds takes no share from the ones below it.
 */
function topUp<M>(state: DispatchState<M>): void {
  const { port, options, lanes } = state;
  if (!state.started || state.stopping || options.canPull?.() === false) return;
  const count = lanes.length;
  const free = options.maxInFlight - state.deliveries.size;
  let heldAbove = 0;
  for (let index = 0; index < count; index += 1) {
    const lane = lanes[index]!;
    if (lane.paused) continue;
    heldAbove += lane.waiting.length;
    if (port.probing(index)) return;
    const outstanding = port.outstanding(index);
    const want = free - heldAbove - outstanding;
    if (index < count - 1 && outstanding === 0 && want > 0) {
      port.pull(index, want, 'probe');
      return;
    }
    if (want >= state.half) port.pull(index, want, 'standing');
  }
}

/** Fills free slots in strict priority order, then tops up credit. */
function pump<M>(state: DispatchState<M>): void {
  if (state.stopping) return;
  const { lanes, deliveries, options } = state;
  for (let index = 0; index < lanes.length && deliveries.size < options.maxInFlight; index += 1) {
    const lane = lanes[index]!;
    if (lane.paused) continue;
    while (lane.waiting.length > 0 && deliveries.size < options.maxInFlight) launch(state, index, lane.waiting.shift() as M);
    // This priority may have more in JetStream: lower priorities wait until that is known.
    if (index < lanes.length - 1 && !knownEmpty(state, index)) break;
  }
  topUp(state);
}

export function createDispatcher<M>(port: DispatcherPort<M>, options: DispatcherOptions): Dispatcher<M> {
  const state: DispatchState<M> = {
    port,
    options,
    half: Math.max(1, Math.ceil(options.maxInFlight / 2)),
    lanes: Array.from({ length: port.consumerCount }, () => ({ waiting: [], pendingAfter: 0, paused: false, inFlight: 0 })),
    deliveries: new Set(),
    tracked: new Set(),
    abandon: new AbortController(),
    started: false,
    stopping: false,
  };
  let ticker: NodeJS.Timeout | undefined;
  let stopped: Promise<boolean> | undefined;

  return {
    start() {
      if (state.started || state.stopping) return;
      state.started = true;
      ticker = setInterval(() => {
        for (const message of state.tracked) port.working(message);
      }, options.workingIntervalMs);
      topUp(state);
    },
    accept(index, message, pending = 0) {
      if (state.stopping) {
        release(state, message);
        return;
      }
      const lane = state.lanes[index]!;
      lane.pendingAfter = pending;
      state.tracked.add(message);
      lane.waiting.push(message);
      pump(state);
    },
    // Credit changed (a probe answered, requests expired or were lost): serve what may go now, pull.
    refill: () => pump(state),
    pause(index) {
      const lane = state.lanes[index]!;
      if (lane.paused) return;
      lane.paused = true;
      port.cancel(index);
      // It no longer holds back the lower priorities.
      pump(state);
    },
    resume(index) {
      const lane = state.lanes[index]!;
      if (!lane.paused) return;
      lane.paused = false;
      pump(state);
    },
    stop(graceMs) {
      stopped ??= (async () => {
        state.stopping = true;
        for (const lane of state.lanes) for (const message of lane.waiting.splice(0)) release(state, message);
        const settled = await settleDeliveries(state.deliveries, state.abandon, graceMs, options.logger);
        clearInterval(ticker);
        return settled;
      })();
      return stopped;
    },
    inFlight: () => state.deliveries.size,
    held: () => state.lanes.reduce((sum, lane) => sum + lane.waiting.length, 0),
    consumer(index) {
      const lane = state.lanes[index]!;
      return { paused: lane.paused, inFlight: lane.inFlight, held: lane.waiting.length };
    },
  };
}
