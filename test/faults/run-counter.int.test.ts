// The run counter against a real nats-server: a second run of the same attempt, whose audit
// event JetStream drops as a duplicate, is still counted; and after a server restart the
// counter's subscriptions resume (the time it was away is recorded).
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_FLOW_SETTINGS, STREAM_EVENTS } from '../../shared/contract';
import { createEmitter } from '../../shared/emit';
import { createLogger } from '../../shared/logger';
import { createPublisher } from '../../shared/nats';
import { setupFlow } from '../../shared/flow-setup';
import { waitFor } from '../helpers/ports';
import { startNatsServer, type TestServer } from '../helpers/servers';
import { startRunCounter } from './run-counter';

describe('run counter (real nats-server)', () => {
  let nats: TestServer;
  let nc: NatsConnection;

  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    await setupFlow(nc, DEFAULT_FLOW_SETTINGS, createLogger('test', 'silent'));
  });

  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  /** The worker's emitter on its own connection, with a clock the test sets. */
  async function connectWorker() {
    const worker = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    let nowMs = 0;
    const emit = createEmitter(createPublisher(worker), 'worker', () => nowMs);
    return { emit, at: (ms: number) => (nowMs = ms), close: () => worker.close() };
  }

  it('counts a second run of the same attempt although JetStream drops its audit event as a duplicate', async () => {
    const counter = await startRunCounter(nc);
    const worker = await connectWorker();
    const jsm = await jetstreamManager(nc);
    const storedBefore = (await jsm.streams.info(STREAM_EVENTS)).state.messages;

    worker.at(1_000);
    await worker.emit.audit('t1', 'handler.started', { attempt: 1 });
    worker.at(4_000);
    await worker.emit.audit('t1', 'handler.started', { attempt: 1 });
    await counter.flush();

    // JetStream kept one (same Nats-Msg-Id): what the audit list would have counted.
    expect((await jsm.streams.info(STREAM_EVENTS)).state.messages - storedBefore).toBe(1);
    expect(counter.ledger().attemptsOf('t1')).toEqual([1, 1]);
    await counter.stop();
    await worker.close();
  });

  it('resumes after nats-server is restarted, and records the time it was away', async () => {
    const counter = await startRunCounter(nc);
    const worker = await connectWorker();
    nats.kill('SIGKILL');
    await waitFor('the counter to see the server gone', () => counter.blind.length === 1);
    await nats.restart();
    await waitFor('the counter to be back', () => counter.blind[0]?.toMs !== undefined, 30_000);
    worker.at(7_000);
    await waitFor('the worker to publish again', () => worker.emit.audit('t2', 'handler.started', { attempt: 1 }).then(() => true, () => false), 30_000);
    await counter.flush();
    expect(counter.ledger().attemptsOf('t2')).toEqual([1]);
    await counter.stop();
    await worker.close();
  });
});
