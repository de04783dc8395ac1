// What a durable consumer still holds, read from JetStream: its counts from consumer INFO, and
// when the oldest message it holds was published (STREAM.MSG.GET with next_by_subj). Two readers
// share it: the scheduler's reconciler (is a stalled task's work still queued?) and the queue
// stats of GetQueueStats (shared/queue-stats.ts).
import type { JetStreamManager } from '@nats-io/jetstream';
import type { ConsumerSpec } from './contract';
import { DependencyUnavailableError, describeError } from './errors';
import { loadJetStream } from './lazy-modules';
import type { NatsConnection } from './nats';

export type ConsumerHold = {
  /** Messages not yet delivered (num_pending). */
  pending: number;
  /** Delivered, not yet acked (num_ack_pending). */
  inFlight: number;
  /** Publish time of the oldest message held; undefined when it holds none, 0 when the time
   * could not be read (older than anything: its readers then wait, or report it as old). */
  oldestPublishedMs: number | undefined;
};

type StoredMessageReply = { message?: { time?: string }; error?: { code?: number; description?: string } };

// JetStream's "consumer not found" and "stream not found": a stage that never started.
const MISSING = new Set([10014, 10059]);

/**
 * Reads `consumer`'s hold; undefined when the consumer (or its stream) does not exist. Any other
 * failure is a DependencyUnavailableError naming the consumer. The oldest held message is the
 * first after the ack floor that matches the filter: messages acked out of order after the floor
 * make it older than the truth, never newer.
 */
export function createConsumerHoldReader(
  nc: NatsConnection,
  options: { timeoutMs?: number } = {},
): (consumer: ConsumerSpec) => Promise<ConsumerHold | undefined> {
  const timeout = options.timeoutMs ?? 5_000;
  let manager: Promise<JetStreamManager> | undefined;
  return async (consumer) => {
    try {
      // No $JS.API.INFO round trip: the users that read holds are granted consumer INFO and
      // MSG.GET of what they watch, nothing more (shared/nats-permissions.ts).
      manager ??= loadJetStream().jetstreamManager(nc, { checkAPI: false, timeout });
      const info = await (await manager).consumers.info(consumer.stream, consumer.durable);
      const counts = { pending: info.num_pending, inFlight: info.num_ack_pending };
      if (counts.pending === 0 && counts.inFlight === 0) return { ...counts, oldestPublishedMs: undefined };
      return { ...counts, oldestPublishedMs: await readOldest(nc, consumer, info.ack_floor.stream_seq + 1, timeout) };
    } catch (error) {
      if (error instanceof loadJetStream().JetStreamApiError && MISSING.has(error.code)) return undefined;
      manager = undefined;
      throw new DependencyUnavailableError(`nats unavailable while reading what ${consumer.durable} holds: ${describeError(error)}`, { cause: error });
    }
  };
}

async function readOldest(nc: NatsConnection, consumer: ConsumerSpec, fromSeq: number, timeout: number): Promise<number | undefined> {
  // nats.js types MSG.GET without next_by_subj, which nats-server (2.9 on) answers.
  const reply = await nc.request(
    `$JS.API.STREAM.MSG.GET.${consumer.stream}`,
    JSON.stringify({ seq: fromSeq, next_by_subj: consumer.filterSubject }),
    { timeout },
  );
  const answer = reply.json<StoredMessageReply>();
  if (answer.error) {
    // 404 (no message found): acked and removed in between, so nothing older is held.
    if (answer.error.code === 404) return undefined;
    throw new Error(`${answer.error.code ?? ''} ${answer.error.description ?? 'unknown error'}`);
  }
  const time = answer.message?.time ? Date.parse(answer.message.time) : NaN;
  return Number.isFinite(time) ? time : 0;
}

/**
 * The reconciler's view: when the oldest message `consumer` holds was published, undefined when
 * it holds none. A missing consumer is an error here: the reconciler must not take "no stage"
 * for "nothing held" and re-drive what a stage that has not started yet would still deliver.
 */
export function createHeldReader(nc: NatsConnection): (consumer: ConsumerSpec) => Promise<number | undefined> {
  const readHold = createConsumerHoldReader(nc);
  return async (consumer) => {
    const hold = await readHold(consumer);
    if (hold === undefined) throw new DependencyUnavailableError(`reading what ${consumer.durable} holds: no such consumer`);
    return hold.oldestPublishedMs;
  };
}
