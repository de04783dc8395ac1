// The dashboard process: a node:http server (shared/runtime's router and drainable server, as
// every function uses) with the page, its JSON API and the status streams, calling the gateway
// through the client library with each caller's key. Health: GET /health/liveness and
// /health/readiness. On stop: refuse new requests, end the open status streams (browsers
// reconnect), wait for the calls in flight up to the grace period, close the gateway clients.
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { createTaskManagerClient } from '../client/client';
import type { Logger } from '../shared/logger';
import { createDrainableServer } from '../shared/runtime/drainable-server';
import { createRouter, type Router } from '../shared/runtime/http-router';
import { addMetricsRoute } from '../shared/runtime/metrics-route';
import { addApiRoutes } from './api';
import { addAssetRoutes, setSecurityHeaders } from './assets';
import type { DashboardConfig } from './config';
import { createGatewayClients, type GatewayPort } from './gateway-clients';
import { createStatusStreamRoute } from './status-stream';

export type RunningDashboard = { port: number; stop(): Promise<void> };

export type DashboardDeps = {
  logger: Logger;
  /** Folder of index.html, app.js and app.css. */
  assetsDir: string;
  /** A gateway client that calls with this key; default: the client library against config.gatewayAddress. */
  connect?: (key: string | undefined) => GatewayPort;
  now?: () => number;
};

function connectWith(config: DashboardConfig): (key: string | undefined) => GatewayPort {
  const { enabled, caFile } = config.gatewayTls;
  const tls = caFile !== undefined ? { ca: readFileSync(caFile) } : enabled;
  return (key) => createTaskManagerClient({ address: config.gatewayAddress, ...(key !== undefined ? { token: key } : {}), tls });
}

export async function startDashboard(config: DashboardConfig, deps: DashboardDeps): Promise<RunningDashboard> {
  const clients = createGatewayClients(deps.connect ?? connectWith(config));
  const server = createDrainableServer();
  const router = createRouter();
  const open = new Map<AbortController, Promise<void>>();
  server.addHealthRoutes(router);
  // Process metrics, as every process serves them (TM_METRICS=prometheus; none otherwise).
  addMetricsRoute(router);
  addAssetRoutes(router, deps.assetsDir);
  addApiRoutes(router, {
    clients,
    logger: deps.logger,
    wrap: (handler) => server.refuseWhileDraining('dashboard', handler),
    ...(deps.now ? { now: deps.now } : {}),
  });
  // Status streams last as long as their task: not counted as in flight, ended on stop instead.
  router.get('/api/tasks/:id/events', createStatusStreamRoute({ clients, logger: deps.logger, open }));
  const withHeaders: Router = {
    ...router,
    listener: (req, res) => {
      setSecurityHeaders(res);
      router.listener(req, res);
    },
  };
  const http = await server.listen(withHeaders, config.port, config.host);
  const port = (http.address() as AddressInfo).port;
  deps.logger.info({ port, host: config.host, gateway: config.gatewayAddress }, 'dashboard listening');
  return {
    port,
    async stop() {
      // End the status streams first, each with its last bytes, then drain the calls in flight.
      const ending = [...open.values()];
      for (const stream of open.keys()) stream.abort();
      await Promise.all(ending);
      await server.drain(config.shutdownGraceMs);
      clients.closeAll();
    },
  };
}
