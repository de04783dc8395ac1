// The gateway's GET /metrics (TM_METRICS=prometheus): it serves gRPC only, so its metrics get a
// small HTTP server of their own on TM_METRICS_PORT. Every other process serves them on the
// port it already has (shared/runtime/metrics-route.ts, source/status-server.ts).
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { appendMetrics, PROMETHEUS_CONTENT_TYPE } from '../shared/metrics';

export type MetricsServer = { port: number; close(): Promise<void> };

export function createMetricsServer(): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('only GET /metrics here\n');
      return;
    }
    appendMetrics('').then(
      (text) => {
        res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE });
        res.end(text);
      },
      (error: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`metrics collection failed: ${(error as Error).message}\n`);
      },
    );
  });
}

/** Listens on `host`:`port` (0: a free one) and returns the bound port and a close. */
export async function startMetricsServer(host: string, port: number): Promise<MetricsServer> {
  const server = createMetricsServer();
  server.listen(port, host);
  await once(server, 'listening');
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}
