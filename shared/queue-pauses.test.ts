import { describe, expect, it } from 'vitest';
import { waitFor } from '../test/helpers/ports';
import { createLogger } from './logger';
import { createSerialReader, startPauseWatch, type PauseWatchDeps } from './queue-pause-watch';
import { toPauseReading, toPauseRecord, toPauseStreamConfig, type PausedQueues, type PauseReading } from './queue-pauses';
import type { QueueName } from './queues';

const logger = createLogger('test', 'silent');

const stored = (seq: number, record: object) =>
  JSON.stringify({ type: 'io.nats.jetstream.api.v1.stream_msg_get_response', message: { subject: 'pauses.x', seq, data: Buffer.from(JSON.stringify(record)).toString('base64') } });

describe('pause records', () => {
  it('reads a stored record with its sequence', () => {
    expect(toPauseReading(stored(7, { paused: true, by: 'ops', atMs: 1_000 }))).toEqual({
      kind: 'record',
      seq: 7,
      record: { paused: true, by: 'ops', atMs: 1_000 },
    });
  });

  it('reads "no message" as no record, and a missing stream as no stream', () => {
    expect(toPauseReading(JSON.stringify({ error: { code: 404, err_code: 10037, description: 'no message found' } }))).toEqual({ kind: 'none' });
    expect(toPauseReading(JSON.stringify({ error: { code: 404, err_code: 10059, description: 'stream not found' } }))).toEqual({ kind: 'no-stream' });
  });

  it('throws on any other error and on bytes that are not a record', () => {
    expect(() => toPauseReading(JSON.stringify({ error: { code: 503, err_code: 10008, description: 'jetstream unavailable' } }))).toThrow(/jetstream unavailable/);
    expect(() => toPauseReading(stored(1, { paused: 'yes' }))).toThrow(/not a pause record/);
    expect(() => toPauseRecord('null')).toThrow(/not a pause record/);
  });

  it('keeps one record per queue subject, on disk, the newest replacing the one before', () => {
    expect(toPauseStreamConfig()).toMatchObject({
      name: 'PAUSES',
      subjects: ['pauses.>'],
      storage: 'file',
      retention: 'limits',
      max_msgs_per_subject: 1,
      discard: 'old',
    });
  });
});

describe('serial reader', () => {
  it('never runs two reads of one queue at once; calls during a read share one more read after it', async () => {
    const order: string[] = [];
    const gates: Array<() => void> = [];
    const read = createSerialReader(async (queue) => {
      order.push(`start ${queue}`);
      await new Promise<void>((resolve) => gates.push(resolve));
      order.push(`end ${queue}`);
    });
    const first = read('worker.high');
    // Not started yet: a second call shares it (it will read after this call anyway).
    expect(read('worker.high')).toBe(first);
    const other = read('worker.low');
    await waitFor('the first reads to start', () => gates.length === 2);
    expect(order).toEqual(['start worker.high', 'start worker.low']);
    // Started: the next calls share one more read, after it.
    const second = read('worker.high');
    const third = read('worker.high');
    expect(second).toBe(third);
    expect(second).not.toBe(first);
    gates[0]!();
    gates[1]!();
    await first;
    await other;
    await waitFor('the queued read', () => gates.length === 3);
    gates[2]!();
    await second;
    expect(order).toEqual(['start worker.high', 'start worker.low', 'end worker.high', 'end worker.low', 'start worker.high', 'end worker.high']);
  });
});

/** A fake connection: subscriptions by subject, and a status stream the test pushes to. */
function fakeNats() {
  const callbacks = new Map<string, (error: Error | null) => void>();
  const statuses: Array<{ type: string }> = [];
  let wake: (() => void) | undefined;
  const nc = {
    subscribe(subject: string, options: { callback: (error: Error | null) => void }) {
      callbacks.set(subject, options.callback);
      return { unsubscribe: () => callbacks.delete(subject) };
    },
    status() {
      return {
        async *[Symbol.asyncIterator]() {
          for (;;) {
            while (statuses.length > 0) yield statuses.shift()!;
            await new Promise<void>((resolve) => (wake = resolve));
          }
        },
      };
    },
  } as unknown as PauseWatchDeps['nc'];
  return {
    nc,
    signal: (queue: string) => callbacks.get(`pauses.${queue}`)?.(null),
    subscribed: () => [...callbacks.keys()],
    emit(type: string) {
      statuses.push({ type });
      wake?.();
    },
  };
}

function watchWith(records: Map<QueueName, PauseReading>, options: { failures?: number } = {}) {
  const nats = fakeNats();
  const changes: Array<{ paused: string[]; known: boolean }> = [];
  let failures = options.failures ?? 0;
  let reads = 0;
  const watch = startPauseWatch(
    {
      nc: nats.nc,
      async read(queue) {
        reads += 1;
        if (failures > 0) {
          failures -= 1;
          throw new Error('NATS is away');
        }
        return records.get(queue) ?? { kind: 'none' };
      },
      logger,
      resyncMs: 60_000,
      retryMs: 10,
    },
    ['worker.high', 'worker.medium'],
    (paused: PausedQueues, known) => changes.push({ paused: [...paused.keys()], known }),
  );
  return { nats, watch, changes, reads: () => reads };
}

const pausedRecord = (seq: number): PauseReading => ({ kind: 'record', seq, record: { paused: true, by: 'ops', atMs: 5 } });
const resumedRecord = (seq: number): PauseReading => ({ kind: 'record', seq, record: { paused: false, by: 'ops', atMs: 6 } });

describe('pause watch', () => {
  it('is known only once every queue was read, and reports the paused ones with who and since when', async () => {
    const { watch, changes, nats } = watchWith(new Map([['worker.medium', pausedRecord(3)]]));
    expect(watch.known()).toBe(false);
    expect(nats.subscribed()).toEqual(['pauses.worker.high', 'pauses.worker.medium']);
    await waitFor('known', () => watch.known());
    expect(changes).toEqual([{ paused: ['worker.medium'], known: true }]);
    expect(watch.paused().get('worker.medium')).toEqual({ by: 'ops', sinceMs: 5 });
    watch.stop();
  });

  it('keeps trying until it can read, and stays unknown meanwhile', async () => {
    const { watch, changes, reads } = watchWith(new Map(), { failures: 3 });
    await waitFor('known', () => watch.known());
    expect(reads()).toBeGreaterThanOrEqual(4);
    expect(changes).toEqual([{ paused: [], known: true }]);
    watch.stop();
  });

  it('reads a queue again on its signal and reports the change', async () => {
    const records = new Map<QueueName, PauseReading>();
    const { watch, changes, nats } = watchWith(records);
    await waitFor('known', () => watch.known());
    records.set('worker.high', pausedRecord(1));
    nats.signal('worker.high');
    await waitFor('the pause', () => watch.paused().has('worker.high'));
    records.set('worker.high', resumedRecord(2));
    nats.signal('worker.high');
    await waitFor('the resume', () => !watch.paused().has('worker.high'));
    expect(changes).toEqual([
      { paused: [], known: true },
      { paused: ['worker.high'], known: true },
      { paused: [], known: true },
    ]);
    watch.stop();
  });

  it('is unknown from a disconnect until everything was read again after the reconnect', async () => {
    const records = new Map<QueueName, PauseReading>();
    const { watch, changes, nats } = watchWith(records);
    await waitFor('known', () => watch.known());
    nats.emit('disconnect');
    await waitFor('unknown', () => !watch.known());
    // Paused while this watch could not hear it.
    records.set('worker.medium', pausedRecord(4));
    nats.emit('reconnect');
    await waitFor('known again', () => watch.known());
    expect(changes).toEqual([
      { paused: [], known: true },
      { paused: [], known: false },
      { paused: ['worker.medium'], known: true },
    ]);
    watch.stop();
  });
});
