// Pausing a queue on the source side (DESIGN §3 PauseQueue/ResumeQueue), against a real
// nats-server and a real worker source posting to a small HTTP sink: what the sink receives is
// the oracle. The pause is written the way the gateway writes it (shared/queue-pauses.ts).
//
// No fixed waits: "no medium delivery" is shown by a positive event that strict priority orders
// after it. The worker source serves high, then medium, then low; a low delivery happens only
// once the medium consumer is known empty or paused, so once the sink has the low messages
// published after the medium ones, every medium message it was going to get, it would have got.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { once } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { createEnvReader, readFlowSettings } from '../shared/config';
import { CONSUMERS, EVENT_TYPES, SUBJECTS } from '../shared/contract';
import { createEvent, toWireBytes } from '../shared/events';
import { createLogger } from '../shared/logger';
import { setupFlow } from '../shared/flow-setup';
import { createQueuePauses, type PausedQueues, type QueuePauses } from '../shared/queue-pauses';
import { waitFor } from '../test/helpers/ports';
import { startNatsServer, type TestServer } from '../test/helpers/servers';
import { loadSourceConfig } from './config';
import { startSource, type RunningSource, type SourceDeps } from './source';

const FLOW_ENV = { TM_RETRY_DELAYS_MS: '100,200,300,400,500', TM_ACK_WAIT_MS: '2000', TM_MAX_DELIVER: '5' };
const [HIGH, MEDIUM] = CONSUMERS.worker;
const logger = createLogger('test', 'silent');

type SinkRequest = { headers: IncomingHttpHeaders };
type Sink = { url: string; requests: SinkRequest[]; connections(): number; close(): Promise<void> };

/** The worker's stand-in: records each delivery; answers 200 once `hold(index)` resolves. */
async function startSink(hold: (index: number) => Promise<unknown> | undefined = () => undefined): Promise<Sink> {
  const requests: SinkRequest[] = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const index = requests.push({ headers: req.headers }) - 1;
      void Promise.resolve(hold(index)).then(() => res.writeHead(200).end());
    });
  });
  let connections = 0;
  server.on('connection', () => (connections += 1));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  return {
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`,
    requests,
    connections: () => connections,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

type ConsumerHealth = { queue: string; paused: boolean; inFlight: number; held: number; credit: number };
type Health = { pausesKnown: boolean; pausedQueues: string[]; consumers: Record<string, ConsumerHealth> };

let nats: TestServer;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let pauses: QueuePauses;
const running: RunningSource[] = [];
const sinks: Sink[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  await setupFlow(nc, readFlowSettings(createEnvReader(FLOW_ENV)), logger);
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  pauses = createQueuePauses(nc, { logger });
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((source) => source.stop()));
  await Promise.all(sinks.splice(0).map((sink) => sink.close()));
  await pauses.resume('worker.medium');
});

afterAll(async () => {
  await nc?.close().catch(() => undefined);
  await nats?.stop();
});

async function startWorkerSource(sink: Sink, maxInFlight: number, deps: Pick<SourceDeps, 'pauses'> = {}): Promise<RunningSource> {
  const config = loadSourceConfig({
    ...FLOW_ENV,
    NATS_URL: nats.url,
    K_SINK: sink.url,
    TM_SOURCE_FUNCTION: 'worker',
    TM_SOURCE_MAX_IN_FLIGHT: String(maxInFlight),
    TM_SOURCE_POLL_EXPIRES_MS: '1000',
    TM_SHUTDOWN_GRACE_MS: '10000',
    PORT: '0',
  });
  const source = await startSource(config, { logger, lagRefreshMs: 100, ...deps });
  running.push(source);
  return source;
}

async function stopSource(source: RunningSource): Promise<void> {
  running.splice(running.indexOf(source), 1);
  await source.stop();
}

async function health(source: RunningSource): Promise<Health> {
  return (await (await fetch(`http://127.0.0.1:${source.port}/healthz`)).json()) as Health;
}

async function publish(subject: string, ...taskIds: string[]): Promise<void> {
  for (const taskId of taskIds) {
    const event = createEvent({ id: `${taskId}:scheduled`, component: 'test', type: EVENT_TYPES.scheduled, taskId, data: { taskId } });
    await js.publish(subject, toWireBytes(event), { msgID: event.id });
  }
}

const delivered = (sink: Sink) => sink.requests.map((request) => String(request.headers['ce-subject']));
const deliveredOf = (sink: Sink, prefix: string) => delivered(sink).filter((id) => id.startsWith(prefix));
const mediumInfo = () => jsm.consumers.info(MEDIUM!.stream, MEDIUM!.durable);

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

describe('a paused queue on the source side', () => {
  it('when worker.medium is paused: medium in flight finishes, high and low go on, no medium starts, not even after a restart; on resume each medium is delivered once, on its first attempt', async () => {
    const inFlight = gate();
    // The first two deliveries (the medium ones in flight at the pause) wait for the gate.
    const sink = await startSink((index) => (index < 2 ? inFlight.opened : undefined));
    sinks.push(sink);
    let source = await startWorkerSource(sink, 2);
    await publish(SUBJECTS.workerMedium, 'medium-in-flight-1', 'medium-in-flight-2');
    await waitFor('both medium deliveries in flight', () => sink.requests.length === 2);

    await pauses.pause('worker.medium', 'test');
    await waitFor('the pause to take effect', async () => (await health(source)).consumers[MEDIUM!.durable]!.paused);
    expect((await health(source)).consumers[MEDIUM!.durable]).toMatchObject({ queue: 'worker.medium', paused: true, inFlight: 2 });
    expect((await health(source)).pausedQueues).toEqual(['worker.medium']);

    await publish(SUBJECTS.workerMedium, 'medium-1', 'medium-2', 'medium-3', 'medium-4');
    await publish(SUBJECTS.workerHigh, 'high-1', 'high-2');
    await publish(SUBJECTS.workerLow, 'low-1');
    inFlight.open();
    await waitFor('high and low delivered', () => ['high-1', 'high-2', 'low-1'].every((id) => delivered(sink).includes(id)));
    await waitFor('the medium deliveries of before the pause to finish', async () => (await health(source)).consumers[MEDIUM!.durable]!.inFlight === 0);
    expect(deliveredOf(sink, 'medium')).toEqual(['medium-in-flight-1', 'medium-in-flight-2']);
    // Both acked; the four published during the pause wait in JetStream, none pulled and held.
    expect(await mediumInfo()).toMatchObject({ num_pending: 4, num_ack_pending: 0, num_redelivered: 0 });

    // A source that starts while the queue is paused pulls none of it, but pulls the others.
    await stopSource(source);
    source = await startWorkerSource(sink, 2);
    await publish(SUBJECTS.workerHigh, 'high-3');
    await publish(SUBJECTS.workerLow, 'low-2');
    await waitFor('high and low delivered after the restart', () => ['high-3', 'low-2'].every((id) => delivered(sink).includes(id)));
    expect((await health(source)).consumers[MEDIUM!.durable]).toMatchObject({ paused: true, inFlight: 0, held: 0, credit: 0 });
    expect(deliveredOf(sink, 'medium')).toEqual(['medium-in-flight-1', 'medium-in-flight-2']);
    expect(await mediumInfo()).toMatchObject({ num_pending: 4, num_ack_pending: 0 });

    await pauses.resume('worker.medium');
    await waitFor('every medium delivered', () => deliveredOf(sink, 'medium').length === 6);
    await waitFor('the medium consumer to settle', async () => {
      const info = await mediumInfo();
      return info.num_pending === 0 && info.num_ack_pending === 0;
    });
    const medium = sink.requests.filter((request) => String(request.headers['ce-subject']).startsWith('medium'));
    expect(medium.map((request) => request.headers['ce-subject']).sort()).toEqual(
      ['medium-1', 'medium-2', 'medium-3', 'medium-4', 'medium-in-flight-1', 'medium-in-flight-2'].sort(),
    );
    expect(medium.map((request) => request.headers['ce-deliveryattempt'])).toEqual(['1', '1', '1', '1', '1', '1']);
    expect((await mediumInfo()).num_redelivered).toBe(0);
    expect((await health(source)).pausedQueues).toEqual([]);
  });

  it('pausing an idle source withdraws the standing request of the queue: what is published afterwards stays in JetStream until the resume', async () => {
    const sink = await startSink();
    sinks.push(sink);
    const source = await startWorkerSource(sink, 4);
    // Idle, every consumer has a standing request out (strict priority probes first).
    await waitFor('a standing medium request', async () => (await health(source)).consumers[MEDIUM!.durable]!.credit > 0);

    await pauses.pause('worker.medium');
    await waitFor('the pause to take effect', async () => (await health(source)).consumers[MEDIUM!.durable]!.paused);
    // Withdrawn at once, not left to expire (TM_SOURCE_POLL_EXPIRES_MS).
    expect((await health(source)).consumers[MEDIUM!.durable]!.credit).toBe(0);
    await publish(SUBJECTS.workerMedium, 'idle-medium');
    await publish(SUBJECTS.workerLow, 'idle-low');
    await waitFor('the low one', () => delivered(sink).includes('idle-low'));
    // Not delivered on the withdrawn request, and not held here either.
    expect(await mediumInfo()).toMatchObject({ num_pending: 1, num_ack_pending: 0 });
    expect((await health(source)).consumers[MEDIUM!.durable]).toMatchObject({ held: 0, inFlight: 0 });
    expect((await health(source)).consumers[HIGH!.durable]).toMatchObject({ paused: false });

    await pauses.resume('worker.medium');
    await waitFor('the medium one', () => delivered(sink).includes('idle-medium'));
    const request = sink.requests.find((candidate) => candidate.headers['ce-subject'] === 'idle-medium')!;
    expect(request.headers['ce-deliveryattempt']).toBe('1');
  });

  it('a source that does not know the pause state yet pulls nothing, then leaves the paused queue alone', async () => {
    await publish(SUBJECTS.workerHigh, 'unknown-high');
    await publish(SUBJECTS.workerMedium, 'unknown-medium');
    const sink = await startSink();
    sinks.push(sink);
    // A pause state that stays unknown until the test says what it is (as when NATS is slow to
    // answer the first read).
    let tell: ((paused: PausedQueues, known: boolean) => void) | undefined;
    const slowPauses = {
      watch: (_queues: unknown, onChange: (paused: PausedQueues, known: boolean) => void) => {
        tell = onChange;
        return { known: () => false, paused: () => new Map(), stop: () => undefined };
      },
    };
    const source = await startWorkerSource(sink, 2, { pauses: slowPauses });
    // The source connects to its sink once, then starts its dispatcher. Were it to pull while the
    // pause state is unknown, its first probe (high) would be answered within milliseconds and the
    // message delivered; 500 ms is far beyond that, and bounded. Nothing may arrive meanwhile.
    await waitFor('the readiness check on the sink', () => sink.connections() > 0);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(sink.requests).toEqual([]);
    expect((await health(source)).pausesKnown).toBe(false);
    // Both messages still wait in JetStream: neither was pulled.
    for (const consumer of [HIGH!, MEDIUM!]) {
      expect(await jsm.consumers.info(consumer.stream, consumer.durable), consumer.durable).toMatchObject({ num_pending: 1, num_ack_pending: 0 });
    }

    tell!(new Map([['worker.medium', { by: 'test', sinceMs: 1 }]]), true);
    await waitFor('the high one', () => delivered(sink).includes('unknown-high'));
    await publish(SUBJECTS.workerLow, 'unknown-low');
    await waitFor('the low one', () => delivered(sink).includes('unknown-low'));
    expect(deliveredOf(sink, 'unknown-medium')).toEqual([]);
    expect(await mediumInfo()).toMatchObject({ num_pending: 1, num_ack_pending: 0 });

    tell!(new Map(), true);
    await waitFor('the medium one', () => delivered(sink).includes('unknown-medium'));
    expect(sink.requests.map((request) => request.headers['ce-deliveryattempt'])).toEqual(['1', '1', '1']);
  });
});
