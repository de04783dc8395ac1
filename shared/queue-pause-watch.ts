// Follows the pause records of some queues (shared/queue-pauses.ts) for a source, which must
// never pull a paused queue, not even for a moment after it starts or reconnects.
//
// - "Known" only once every watched queue was read since the last (re)connect: until then the
//   source pulls nothing (source/pause-gate.ts). A disconnect makes the state unknown again (a
//   pause may be written while we cannot hear it); the reconnect reads everything again.
// - Changes arrive as core NATS messages: every record published on `pauses.<queue>` reaches
//   a plain subscription as well as the stream. The message is only a signal; the state is
//   read back from the stream, so a late or repeated signal cannot put an older record over a
//   newer one. Reads of one queue run one after another, never overlapping.
// - Core messages are at most once (a slow consumer may drop one): everything is read again
//   every `resyncMs` as a safety net.
import type { NatsConnection } from '@nats-io/transport-node';
import { toPauseSubject } from './contract';
import { describeError } from './errors';
import type { Logger } from './logger';
import type { PausedQueues, PauseReading, QueuePause } from './queue-pauses';
import type { QueueName } from './queues';

export type PauseWatch = {
  /** Whether every watched queue was read since the last (re)connect. */
  known(): boolean;
  /** The paused queues among the watched ones (meaningful once known). */
  paused(): PausedQueues;
  stop(): void;
};

export type PauseWatchDeps = {
  nc: Pick<NatsConnection, 'subscribe' | 'status'>;
  read(queue: QueueName): Promise<PauseReading>;
  logger: Logger;
  resyncMs: number;
  /** First pause before reading again after a failed read (doubling up to 5 s). */
  retryMs?: number;
};

/** The pause a reading says is in force (undefined: running). */
export function toQueuePause(reading: PauseReading): QueuePause | undefined {
  if (reading.kind !== 'record' || !reading.record.paused) return undefined;
  return { by: reading.record.by, sinceMs: reading.record.atMs };
}

export function startPauseWatch(
  deps: PauseWatchDeps,
  queues: readonly QueueName[],
  onChange: (paused: PausedQueues, known: boolean) => void,
): PauseWatch {
  const { logger } = deps;
  const paused = new Map<QueueName, QueuePause>();
  let known = false;
  /** Bumped by every disconnect: a full read started before it does not make the state known. */
  let epoch = 0;
  let stopped = false;
  let failures = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  let warnedNoStream = false;

  const notify = () => onChange(new Map(paused), known);

  const apply = (queue: QueueName, reading: PauseReading) => {
    if (reading.kind === 'no-stream' && !warnedNoStream) {
      warnedNoStream = true;
      logger.warn('the PAUSES stream does not exist (run setup): no queue can be paused until it does');
    }
    const before = paused.get(queue);
    const after = toQueuePause(reading);
    if (after) paused.set(queue, after);
    else paused.delete(queue);
    if (known && Boolean(before) !== Boolean(after)) {
      logger.info({ queue, paused: Boolean(after), by: after?.by }, after ? 'queue paused' : 'queue resumed');
      notify();
    }
  };

  const readSerially = createSerialReader(async (queue) => {
    const reading = await deps.read(queue);
    if (!stopped) apply(queue, reading);
  });

  const readAll = async (): Promise<void> => {
    if (stopped) return;
    const startedAt = epoch;
    try {
      await Promise.all(queues.map(readSerially));
      failures = 0;
    } catch (error) {
      failures += 1;
      const delayMs = Math.min((deps.retryMs ?? 250) * 2 ** (failures - 1), 5_000);
      logger.warn({ err: describeError(error), retryInMs: delayMs }, 'pause state not read: pulling nothing until it is');
      clearTimeout(retryTimer);
      if (!stopped) retryTimer = setTimeout(() => void readAll(), delayMs).unref();
      return;
    }
    if (!stopped && startedAt === epoch && !known) {
      known = true;
      if (paused.size > 0) logger.info({ paused: [...paused.keys()] }, 'queues paused');
      notify();
    }
  };

  const subscriptions = queues.map((queue) =>
    deps.nc.subscribe(toPauseSubject(queue), {
      callback: (error) => {
        if (error) logger.error({ err: describeError(error), queue }, 'cannot follow the pause state: it is read every %d ms only', deps.resyncMs);
        else readSerially(queue).catch(() => void readAll());
      },
    }),
  );

  void (async () => {
    for await (const status of deps.nc.status()) {
      if (stopped) return;
      if (status.type === 'disconnect') {
        epoch += 1;
        if (known) {
          known = false;
          notify();
        }
      }
      if (status.type === 'reconnect') void readAll();
    }
  })();

  const resync = setInterval(() => void readAll(), deps.resyncMs);
  resync.unref();
  void readAll();

  return {
    known: () => known,
    paused: () => new Map(paused),
    stop() {
      stopped = true;
      clearInterval(resync);
      clearTimeout(retryTimer);
      for (const subscription of subscriptions) subscription.unsubscribe();
    },
  };
}

/**
 * Runs `read(queue)` one at a time per queue: a call while a read of the queue is running
 * queues one more read after it (calls in between share that one), so two replies of one queue
 * never arrive out of order and the last read always started after the last signal.
 */
export function createSerialReader(read: (queue: QueueName) => Promise<void>): (queue: QueueName) => Promise<void> {
  const queued = new Map<QueueName, Promise<void>>();
  const last = new Map<QueueName, Promise<void>>();
  return (queue) => {
    const waiting = queued.get(queue);
    if (waiting) return waiting;
    const previous = last.get(queue) ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(() => {
        queued.delete(queue);
        return read(queue);
      });
    queued.set(queue, next);
    last.set(queue, next);
    return next;
  };
}
