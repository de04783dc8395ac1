// Wires the enricher from its environment: validated settings, the handler with real time and
// randomness, the HTTP app. Returns a `stop` so the entry file (and tests) own the process.
import { setTimeout as sleep } from 'node:timers/promises';
import { createEnvReader, readListenHost, readLogLevel, type Env, type EnvReader } from '../../shared/config';
import { createLogger } from '../../shared/logger';
import { addMetricsRoute } from '../../shared/runtime/metrics-route';
import { findFunction } from '../../shared/topology';
import { createEnricherApp } from './app';
import { createHandler, type EnricherConfig, type EnricherDeps } from './handler';

export type EnricherSettings = EnricherConfig & {
  port: number;
  host: string;
  bodyLimitBytes: number;
  graceMs: number;
  logLevel: string;
};

export function readEnricherSettings(reader: EnvReader): EnricherSettings {
  return {
    port: reader.int('PORT', findFunction('enricher').port, { min: 0, max: 65535 }),
    host: readListenHost(reader),
    latencyMs: reader.int('ENRICHER_LATENCY_MS', 0, { min: 0, max: 600_000 }),
    errorRate: reader.number('ENRICHER_ERROR_RATE', 0, { min: 0, max: 1 }),
    bodyLimitBytes: reader.int('ENRICHER_BODY_LIMIT_BYTES', 64 * 1024, { min: 1024 }),
    graceMs: reader.int('TM_SHUTDOWN_GRACE_MS', 25_000, { min: 0 }),
    logLevel: readLogLevel(reader),
  };
}

export type RunningEnricher = { port: number; stop(): Promise<void> };

/** Starts the enricher; `overrides` replace real time/randomness (tests). */
export async function startEnricher(
  env: Env,
  overrides: Partial<Omit<EnricherDeps, 'config'>> = {},
): Promise<RunningEnricher> {
  const reader = createEnvReader(env);
  const settings = readEnricherSettings(reader);
  reader.finish();
  const logger = createLogger('enricher', settings.logLevel);
  const handler = createHandler({
    config: { latencyMs: settings.latencyMs, errorRate: settings.errorRate },
    now: overrides.now ?? Date.now,
    random: overrides.random ?? Math.random,
    sleep: overrides.sleep ?? ((ms) => sleep(ms)),
  });
  const app = createEnricherApp({ handler, logger, bodyLimitBytes: settings.bodyLimitBytes });
  addMetricsRoute(app.router);
  const server = await app.listen(settings.port, settings.host);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : settings.port;
  logger.info({ host: settings.host, port, latencyMs: settings.latencyMs, errorRate: settings.errorRate }, 'enricher listening');
  return {
    port,
    async stop() {
      logger.info('draining');
      await app.drain(settings.graceMs);
      logger.info('stopped');
    },
  };
}
