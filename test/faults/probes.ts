// What the fault scenarios 9–15 look at besides the invariants: a process's resident memory
// (VmRSS from /proc), JetStream consumers that have nothing left to deliver, raw publishes that
// bypass the shared publisher (other bytes, other Nats-Msg-Ids), and terminal states counted in
// one Redis round trip.
import { readFileSync } from 'node:fs';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { Redis } from '../../shared/redis';
import { ALL_CONSUMERS, isTerminal, type ConsumerSpec } from '../../shared/contract';
import { waitFor } from '../helpers/ports';
import { readStates } from './workload';

/** Resident memory of a process in MiB (VmRSS), or undefined when it is not running. */
export function readRssMiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export type RssSampler = {
  /** Highest VmRSS seen per process name, in MiB. */
  readonly peaks: Map<string, number>;
  /** Takes one sample now (also done every interval). */
  sample(): void;
  stop(): Map<string, number>;
};

/** Samples VmRSS of the named processes every `intervalMs`, keeping the peak of each. */
export function sampleRss(pidOf: (name: string) => number | undefined, names: readonly string[], intervalMs = 250): RssSampler {
  const peaks = new Map<string, number>();
  const sample = () => {
    for (const name of names) {
      const rss = readRssMiB(pidOf(name));
      if (rss !== undefined && rss > (peaks.get(name) ?? 0)) peaks.set(name, rss);
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    peaks,
    sample,
    stop() {
      clearInterval(timer);
      sample();
      return peaks;
    },
  };
}

export type ConsumerLoad = { durable: string; pending: number; ackPending: number; redelivered: number };

export async function readConsumers(nc: NatsConnection, consumers: readonly ConsumerSpec[] = ALL_CONSUMERS): Promise<ConsumerLoad[]> {
  const jsm = await jetstreamManager(nc);
  return Promise.all(
    consumers.map(async (consumer) => {
      const info = await jsm.consumers.info(consumer.stream, consumer.durable);
      return {
        durable: consumer.durable,
        pending: info.num_pending,
        ackPending: info.num_ack_pending,
        redelivered: info.num_redelivered,
      };
    }),
  );
}

/** Waits until no consumer has a message waiting or in flight: everything published was settled. */
export async function waitForConsumersIdle(
  nc: NatsConnection,
  timeoutMs = 90_000,
  consumers: readonly ConsumerSpec[] = ALL_CONSUMERS,
): Promise<void> {
  let last: ConsumerLoad[] = [];
  await waitFor(
    'every consumer to be idle',
    async () => {
      last = await readConsumers(nc, consumers);
      return last.every((load) => load.pending === 0 && load.ackPending === 0);
    },
    timeoutMs,
    200,
  ).catch((error: unknown) => {
    const busy = last.filter((load) => load.pending > 0 || load.ackPending > 0);
    throw new Error(`${(error as Error).message}; busy: ${JSON.stringify(busy)}`);
  });
}

/** Publishes bytes as they are to JetStream (no CloudEvent, no trace context), with an optional
 * Nats-Msg-Id; resolves with the PubAck's `duplicate` flag. */
export async function publishRaw(nc: NatsConnection, subject: string, data: Uint8Array | string, msgID?: string): Promise<boolean> {
  const ack = await jetstream(nc).publish(subject, data, msgID === undefined ? undefined : { msgID });
  return ack.duplicate;
}

export async function countTerminal(redis: Redis, taskIds: readonly string[]): Promise<number> {
  let terminal = 0;
  for (let start = 0; start < taskIds.length; start += 5_000) {
    const states = await readStates(redis, taskIds.slice(start, start + 5_000));
    terminal += states.filter((state) => isTerminal(state ?? '')).length;
  }
  return terminal;
}
