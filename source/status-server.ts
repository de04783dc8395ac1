// The source's GET /healthz and GET /metrics. /healthz is JSON for probes and for operators (and
// tests) who need to see the effect of a pause: per consumer, whether its queue is paused, what is
// in flight and what is held. Its status code says only whether the source works (connected, not
// draining); a paused queue is a wanted state, not a fault.
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { ConsumerSpec } from '../shared/contract';
import type { NatsConnection } from '../shared/nats';
import { appendMetrics, PROMETHEUS_CONTENT_TYPE } from '../shared/metrics';
import { queueOf } from '../shared/queues';
import type { Dispatcher } from './dispatcher';
import { renderMetrics, type ConsumerGauges, type SourceMetrics } from './metrics';

/** Flags the connection watcher, the pause gate, the health server, the dispatcher and stop share. */
export type SourceState = { connected: boolean; draining: boolean; pausesKnown: boolean };

export type StatusParts = {
  functionName: string;
  consumers: readonly ConsumerSpec[];
  nc: Pick<NatsConnection, 'isClosed'>;
  state: SourceState;
  metrics: Pick<SourceMetrics, 'snapshot'>;
  dispatcher: Pick<Dispatcher<unknown>, 'inFlight' | 'held' | 'consumer'>;
  /** Messages asked of consumer `index` and not arrived yet. */
  credit(index: number): number;
  /** Whether /metrics also serves the process's OpenTelemetry series. Those cover every source of
   * the process, so of several hosted sources only one serves them (host.ts). */
  processSeries: boolean;
};

/** Per consumer (by durable): its queue, whether that is paused, in flight, held and credit. */
export function toConsumerReport(parts: Pick<StatusParts, 'consumers' | 'dispatcher' | 'credit'>): Record<string, ConsumerGauges & { credit: number }> {
  const report: Record<string, ConsumerGauges & { credit: number }> = {};
  parts.consumers.forEach((consumer, index) => {
    report[consumer.durable] = { queue: queueOf(consumer), ...parts.dispatcher.consumer(index), credit: parts.credit(index) };
  });
  return report;
}

/** The /healthz body: `pausedQueues` lists the paused queues of this source. */
export function toHealth(parts: StatusParts): { healthy: boolean; body: Record<string, unknown> } {
  const { connected, draining, pausesKnown } = parts.state;
  const healthy = connected && !draining && !parts.nc.isClosed();
  const consumers = toConsumerReport(parts);
  const pausedQueues = [...new Set(Object.values(consumers).filter((c) => c.paused).map((c) => c.queue))];
  return { healthy, body: { status: healthy ? 'ok' : 'unavailable', connected, draining, pausesKnown, pausedQueues, consumers } };
}

export function createStatusServer(parts: StatusParts): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/healthz') {
      const { healthy, body } = toHealth(parts);
      res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
      return;
    }
    if (req.method === 'GET' && path === '/metrics') {
      const { dispatcher, state } = parts;
      const text = renderMetrics(parts.functionName, parts.metrics.snapshot(), {
        inFlight: dispatcher.inFlight(),
        held: dispatcher.held(),
        connected: state.connected,
        draining: state.draining,
        pausesKnown: state.pausesKnown,
        consumers: toConsumerReport(parts),
      });
      // With metrics on, the OpenTelemetry series follow the source's own (shared/metrics.ts).
      (parts.processSeries ? appendMetrics(text) : Promise.resolve(text)).then(
        (all) => {
          res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE });
          res.end(all);
        },
        (error: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
          res.end(`metrics collection failed: ${(error as Error).message}\n`);
        },
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'NOT_FOUND', message: `no route ${req.method} ${path}` }));
  });
}

/** Listens and returns the bound port (`port` 0 picks a free one). */
export async function listen(server: Server, port: number, host: string): Promise<number> {
  server.listen(port, host);
  await once(server, 'listening');
  const address = server.address();
  return typeof address === 'object' && address ? address.port : port;
}
