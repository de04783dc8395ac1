// Starts the whole process stack — the same bundles, commands and environment as `npm start`
// (scripts/local-stack.ts) — against test-owned nats-server and redis-server on free ports.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { FUNCTIONS } from '../../shared/topology';
import { sourceName, toLocalStack } from '../../scripts/local-stack';
import { createSupervisor, type Supervisor } from '../../scripts/supervisor';
import { getFreePort, waitFor, waitForPort } from './ports';
import { startNatsServer, startRedisServer, type TestServer } from './servers';

export type TestStack = {
  gatewayAddress: string;
  nats: TestServer;
  redisServer: TestServer;
  /** A plain Redis client for assertions. */
  redis: Redis;
  nc: NatsConnection;
  supervisor: Supervisor;
  logs: string[];
  ports: Record<string, number>;
  stop(): Promise<void>;
};

/** Scaled-down retry schedule so retry paths finish in seconds. */
export const FAST_FLOW_ENV = {
  TM_RETRY_DELAYS_MS: '100,200,300,400,500',
  TM_ACK_WAIT_MS: '5000',
  LOG_LEVEL: 'warn',
} as const;

export type TestStackOptions = {
  env?: Record<string, string>;
  processEnv?: Record<string, Record<string, string>>;
};

export async function startTestStack(options: TestStackOptions = {}): Promise<TestStack> {
  const distDir = resolve('dist');
  if (!existsSync(resolve(distDir, 'gateway.cjs'))) throw new Error('dist/ is missing: run `npm run build` first');
  const nats = await startNatsServer();
  const redisServer = await startRedisServer();
  const ports: Record<string, number> = { gateway: await getFreePort() };
  for (const fn of FUNCTIONS) {
    ports[fn.name] = await getFreePort();
    if (fn.sourcePort) ports[sourceName(fn)] = await getFreePort();
  }
  const logs: string[] = [];
  const specs = toLocalStack({
    distDir,
    natsUrl: nats.url,
    redisUrl: redisServer.url,
    ports,
    env: { ...FAST_FLOW_ENV, ...options.env },
    ...(options.processEnv ? { processEnv: options.processEnv } : {}),
  });
  const supervisor = createSupervisor({
    specs,
    log: (line) => {
      logs.push(line);
      if (process.env.TM_TEST_LOGS) process.stdout.write(`${line}\n`);
    },
  });
  await supervisor.start();
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: 3 });
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1 });
  const gatewayAddress = `127.0.0.1:${ports.gateway}`;
  await waitForHealthy(ports);
  return {
    gatewayAddress,
    nats,
    redisServer,
    redis,
    nc,
    supervisor,
    logs,
    ports,
    async stop() {
      await supervisor.stop(10_000);
      await nc.close().catch(() => undefined);
      redis.disconnect();
      await nats.stop();
      await redisServer.stop();
    },
  };
}

/** Every function answers its readiness probe and every source its /healthz. */
async function waitForHealthy(ports: Record<string, number>): Promise<void> {
  const urls: string[] = [];
  for (const fn of FUNCTIONS) {
    urls.push(`http://127.0.0.1:${ports[fn.name]}/health/readiness`);
    if (fn.sourcePort) urls.push(`http://127.0.0.1:${ports[sourceName(fn)]}/healthz`);
  }
  let notReady: string[] = urls;
  // Generous: sixteen processes start at once on a two-core machine.
  await waitFor(
    'every function and source to be ready',
    async () => {
      const results = await Promise.all(urls.map((url) => fetch(url).then((r) => r.ok, () => false)));
      notReady = urls.filter((_, i) => !results[i]);
      return notReady.length === 0;
    },
    90_000,
    100,
  ).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}; not ready: ${notReady.join(', ')}`);
  });
  await waitForPort(ports.gateway!, 30_000);
}
