// The persisted pause state of the operator's queues (DESIGN §3 PauseQueue/ResumeQueue). The
// gateway writes it (pause, resume) and reads it (paused); each source watches the queues of its
// consumers and stops pulling them while they are paused (source/pause-gate.ts).
//
// Where it lives: the JetStream stream PAUSES, one subject per queue (`pauses.<queue>`), keeping
// the last message of each subject (max_msgs_per_subject 1, file storage): a pause survives
// restarts of the sources, the gateway and NATS. A record is `{"paused":bool,"by":…,"atMs":…}`;
// resuming writes `paused: false` rather than deleting, so the writer needs no purge permission
// and every change is one publish that core NATS subscribers see as well (the watch's signal).
// A KV bucket would hold the same, but its client package and watch (an ordered push consumer
// per watcher) would need consumer-create permissions for every source.
//
// Reading is STREAM.MSG.GET `last_by_subj` per queue. A missing stream (setup has not run since
// this was added) reads as "nothing paused": no queue can have been paused without it.
import type { JetStreamManager, StreamConfig } from '@nats-io/jetstream';
import { DiscardPolicy, JetStreamApiError, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { PAUSE_SUBJECTS, PAUSES_MSG_GET, STREAM_PAUSES, toPauseSubject } from './contract';
import { DependencyUnavailableError, describeError, ValidationError } from './errors';
import type { Logger } from './logger';
import { toPubAck } from './pub-acks';
import { startPauseWatch, type PauseWatch } from './queue-pause-watch';
import { isQueueName, QUEUE_NAMES, type QueueName } from './queues';

export type { PauseWatch } from './queue-pause-watch';

/** Who paused a queue, and since when (epoch ms). */
export type QueuePause = Readonly<{ by: string; sinceMs: number }>;

/** The paused queues (a queue not in the map is running). */
export type PausedQueues = ReadonlyMap<QueueName, QueuePause>;

/** One record as stored: the last word on a queue. */
export type PauseRecord = Readonly<{ paused: boolean; by: string; atMs: number }>;

/** What reading a queue's subject found: its last record (with its stream sequence), no record
 * yet, or no PAUSES stream at all. */
export type PauseReading = { kind: 'record'; seq: number; record: PauseRecord } | { kind: 'none' } | { kind: 'no-stream' };


/** `by` is whatever the gateway says (an API key's name); a record stays small. */
const MAX_BY_LENGTH = 200;
const NO_MESSAGE = 10037;
const NO_STREAM = 10059;

/** Reads a stored record; throws on anything that is not one. */
export function toPauseRecord(bytes: Uint8Array | string): PauseRecord {
  const text = typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8');
  const value = JSON.parse(text) as Partial<PauseRecord> | null;
  if (typeof value?.paused !== 'boolean') throw new Error(`not a pause record: ${text.slice(0, 200)}`);
  return { paused: value.paused, by: typeof value.by === 'string' ? value.by : '', atMs: Number.isFinite(value.atMs) ? Number(value.atMs) : 0 };
}

/** What a STREAM.MSG.GET reply says about one queue. */
export function toPauseReading(replyText: string): PauseReading {
  type Reply = { message?: { seq?: unknown; data?: unknown }; error?: { err_code?: unknown; description?: unknown } };
  const reply = JSON.parse(replyText) as Reply;
  if (reply.error) {
    if (reply.error.err_code === NO_MESSAGE) return { kind: 'none' };
    if (reply.error.err_code === NO_STREAM) return { kind: 'no-stream' };
    throw new Error(`reading the pause state failed: ${String(reply.error.description ?? replyText.slice(0, 200))}`);
  }
  const { seq, data } = reply.message ?? {};
  if (typeof seq !== 'number' || typeof data !== 'string') throw new Error(`not a stored message: ${replyText.slice(0, 200)}`);
  return { kind: 'record', seq, record: toPauseRecord(Buffer.from(data, 'base64')) };
}

export function toPauseStreamConfig(): Partial<StreamConfig> & { name: string } {
  return {
    name: STREAM_PAUSES,
    subjects: [PAUSE_SUBJECTS],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    // The newest record of a queue replaces the one before.
    max_msgs_per_subject: 1,
    discard: DiscardPolicy.Old,
    max_bytes: 1024 * 1024,
    num_replicas: 1,
  };
}

/** Creates or updates the PAUSES stream (setup's job: only setup may create streams). */
export async function ensurePauseStream(jsm: JetStreamManager, logger: Logger): Promise<void> {
  const config = toPauseStreamConfig();
  try {
    await jsm.streams.info(config.name);
    const { name: _name, storage: _storage, retention: _retention, ...mutable } = config;
    await jsm.streams.update(config.name, mutable);
    logger.info({ stream: config.name }, 'stream updated');
  } catch (error) {
    if (!(error instanceof JetStreamApiError) || error.code !== NO_STREAM) throw error;
    await jsm.streams.add(config);
    logger.info({ stream: config.name }, 'stream created');
  }
}

export type QueuePauses = {
  /** Pauses `queue`; pausing a paused queue keeps its first record (who, since when). */
  pause(queue: QueueName, by?: string): Promise<void>;
  /** Resumes `queue`; resuming a running queue changes nothing. */
  resume(queue: QueueName, by?: string): Promise<void>;
  /** Every paused queue, with who paused it and since when. */
  paused(): Promise<PausedQueues>;
  /**
   * Follows the pause state of `queues` (queue-pause-watch.ts): `onChange` runs once the state
   * is known, and on every change of it, including "unknown again" after a disconnect.
   */
  watch(queues: readonly QueueName[], onChange: (paused: PausedQueues, known: boolean) => void): PauseWatch;
};

export type QueuePausesOptions = {
  logger: Logger;
  now?: () => number;
  /** Timeout of one read or write. */
  timeoutMs?: number;
  /** How often a watch reads everything again, in case a notification was missed. */
  resyncMs?: number;
};

function assertQueue(queue: string): asserts queue is QueueName {
  if (!isQueueName(queue)) throw new ValidationError(`queue must be one of ${QUEUE_NAMES.join(', ')}, got "${queue}"`, { field: 'queue' });
}

export function createQueuePauses(nc: NatsConnection, options: QueuePausesOptions): QueuePauses {
  const now = options.now ?? Date.now;
  const timeout = options.timeoutMs ?? 5_000;

  const read = async (queue: QueueName): Promise<PauseReading> => {
    try {
      const reply = await nc.request(PAUSES_MSG_GET, JSON.stringify({ last_by_subj: toPauseSubject(queue) }), { timeout });
      return toPauseReading(reply.string());
    } catch (error) {
      throw new DependencyUnavailableError(`could not read the pause state of queue ${queue}: ${describeError(error)}`, { cause: error });
    }
  };

  const isPaused = async (queue: QueueName) => {
    const reading = await read(queue);
    return reading.kind === 'record' && reading.record.paused;
  };

  const write = async (queue: QueueName, record: PauseRecord): Promise<void> => {
    const verb = record.paused ? 'pause' : 'resume';
    try {
      const reply = await nc.request(toPauseSubject(queue), JSON.stringify(record), { timeout });
      toPubAck(reply.string());
    } catch (error) {
      const hint = /no responders/i.test(describeError(error)) ? ` (no ${STREAM_PAUSES} stream: run setup)` : '';
      throw new DependencyUnavailableError(`could not ${verb} queue ${queue}: ${describeError(error)}${hint}`, { cause: error });
    }
  };

  return {
    async pause(queue, by = 'operator') {
      assertQueue(queue);
      if (await isPaused(queue)) return;
      await write(queue, { paused: true, by: by.slice(0, MAX_BY_LENGTH), atMs: now() });
    },
    async resume(queue, by = 'operator') {
      assertQueue(queue);
      if (!(await isPaused(queue))) return;
      await write(queue, { paused: false, by: by.slice(0, MAX_BY_LENGTH), atMs: now() });
    },
    async paused() {
      const readings = await Promise.all(QUEUE_NAMES.map(async (queue) => [queue, await read(queue)] as const));
      const paused = new Map<QueueName, QueuePause>();
      for (const [queue, reading] of readings) {
        if (reading.kind === 'record' && reading.record.paused) paused.set(queue, { by: reading.record.by, sinceMs: reading.record.atMs });
      }
      return paused;
    },
    watch(queues, onChange) {
      return startPauseWatch({ nc, read, logger: options.logger, resyncMs: options.resyncMs ?? 30_000 }, queues, onChange);
    },
  };
}
