// The queues' pause state against a real nats-server: written and read back through the PAUSES
// stream that setup creates, followed by a watch, and kept across a restart of NATS.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../test/helpers/ports';
import { startNatsServer, type TestServer } from '../test/helpers/servers';
import { DEFAULT_FLOW_SETTINGS, STREAM_PAUSES } from './contract';
import { DependencyUnavailableError, ValidationError } from './errors';
import { createLogger } from './logger';
import { setupFlow } from './flow-setup';
import { createQueuePauses, type PausedQueues } from './queue-pauses';
import type { QueueName } from './queues';

const logger = createLogger('test', 'silent');
let nats: TestServer;
let nc: NatsConnection;

beforeAll(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  await setupFlow(nc, DEFAULT_FLOW_SETTINGS, logger);
});

afterAll(async () => {
  await nc?.close().catch(() => undefined);
  await nats?.stop();
});

describe('queue pauses', () => {
  it('setup creates the PAUSES stream idempotently: a second run changes nothing', async () => {
    await setupFlow(nc, DEFAULT_FLOW_SETTINGS, logger);
    const info = await (await jetstreamManager(nc)).streams.info(STREAM_PAUSES);
    expect(info.config).toMatchObject({ subjects: ['pauses.>'], max_msgs_per_subject: 1 });
  });

  it('pauses and resumes a queue; pausing twice keeps the first record, resuming twice changes nothing', async () => {
    let now = 1_000;
    const pauses = createQueuePauses(nc, { logger, now: () => now });
    expect(await pauses.paused()).toEqual(new Map());
    await pauses.pause('worker.medium', 'ops');
    now = 2_000;
    await pauses.pause('worker.medium', 'someone-else');
    await pauses.pause('results');
    expect(await pauses.paused()).toEqual(
      new Map([
        ['worker.medium', { by: 'ops', sinceMs: 1_000 }],
        ['results', { by: 'operator', sinceMs: 2_000 }],
      ]),
    );
    await pauses.resume('worker.medium');
    await pauses.resume('worker.medium');
    await pauses.resume('results');
    expect(await pauses.paused()).toEqual(new Map());
  });

  it('refuses a name that is no queue', async () => {
    const pauses = createQueuePauses(nc, { logger });
    await expect(pauses.pause('worker.urgent' as QueueName)).rejects.toBeInstanceOf(ValidationError);
  });

  it('a watch sees pauses and resumes of its queues only', async () => {
    const pauses = createQueuePauses(nc, { logger });
    const seen: Array<{ paused: string[]; known: boolean }> = [];
    const watch = pauses.watch(['worker.high', 'worker.low'], (paused: PausedQueues, known) => seen.push({ paused: [...paused.keys()], known }));
    try {
      await waitFor('known', () => watch.known());
      await pauses.pause('worker.low');
      await waitFor('the pause', () => watch.paused().has('worker.low'));
      await pauses.pause('ingest');
      await pauses.resume('worker.low');
      await waitFor('the resume', () => !watch.paused().has('worker.low'));
      expect(seen).toEqual([
        { paused: [], known: true },
        { paused: ['worker.low'], known: true },
        { paused: [], known: true },
      ]);
      await pauses.resume('ingest');
    } finally {
      watch.stop();
    }
  });

  it('a pause survives a NATS restart, and a watch knows it again after the reconnect', async () => {
    const pauses = createQueuePauses(nc, { logger });
    await pauses.pause('schedule', 'ops');
    const watch = pauses.watch(['schedule'], () => undefined);
    try {
      await waitFor('known', () => watch.known());
      expect([...watch.paused().keys()]).toEqual(['schedule']);
      await nats.restart();
      await waitFor('the state, read again after the reconnect', () => watch.known() && watch.paused().has('schedule'), 30_000);
      expect([...(await pauses.paused()).keys()]).toEqual(['schedule']);
    } finally {
      watch.stop();
      await waitFor('the resume', () => pauses.resume('schedule').then(() => true, () => false), 30_000, 200);
    }
  });
});

describe('queue pauses before setup has created the stream', () => {
  let bare: TestServer;
  let bareNc: NatsConnection;

  beforeAll(async () => {
    bare = await startNatsServer();
    bareNc = await connect({ servers: bare.url });
  });

  afterAll(async () => {
    await bareNc?.close().catch(() => undefined);
    await bare?.stop();
  });

  it('reads as nothing paused, and a pause fails saying to run setup', async () => {
    const pauses = createQueuePauses(bareNc, { logger, timeoutMs: 2_000 });
    expect(await pauses.paused()).toEqual(new Map());
    const watch = pauses.watch(['ingest'], () => undefined);
    try {
      await waitFor('known', () => watch.known());
      expect(watch.paused().size).toBe(0);
    } finally {
      watch.stop();
    }
    const failure = await pauses.pause('ingest').then(() => undefined, (error: unknown) => error);
    expect(failure).toBeInstanceOf(DependencyUnavailableError);
    expect(String((failure as Error).message)).toMatch(/run setup/);
  });
});
