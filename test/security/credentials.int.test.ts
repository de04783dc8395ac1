// NATS and Redis credentials and TLS, read from the environment exactly as the processes read
// them, against real servers: nats-server with a token and mutual TLS, redis-server with ACL
// users over TLS only. A function (the common runtime) and the gateway start with them and work;
// wrong credentials are refused with errors that name the variables and never hold the secret.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskManagerClient } from '../../client/client';
import { definition as auditDefinition } from '../../functions/audit/definition';
import { loadGatewayConfig } from '../../gateway/config';
import { startGateway, type RunningGateway } from '../../gateway/server';
import { createEnvReader, readConnectionSettings, readFlowSettings, type Env } from '../../shared/config';
import { KEYS } from '../../shared/contract';
import { ConfigError } from '../../shared/errors';
import { createLogger } from '../../shared/logger';
import { connectNats } from '../../shared/nats';
import { setupFlow } from '../../shared/flow-setup';
import { connectRedis } from '../../shared/redis';
import { startFunction, type RunningFunction } from '../../shared/runtime/start-function';
import { createCertificates } from '../helpers/certificates';
import { getFreePort, waitForPort } from '../helpers/ports';
import { startConfiguredNatsServer, type TestServer } from '../helpers/servers';

const logger = createLogger('credentials-test', 'silent');
const NATS_TOKEN = `tok-${randomBytes(16).toString('hex')}`;
const REDIS_PASSWORD = `pw-${randomBytes(16).toString('hex')}`;

function configErrorOf(error: unknown): string {
  expect(error).toBeInstanceOf(ConfigError);
  return (error as ConfigError).message;
}

describe('credentials and TLS for NATS and Redis', () => {
  let dir: string;
  let certs: ReturnType<typeof createCertificates>;
  let nats: TestServer;
  let redisServer: ChildProcess;
  let redisPort: number;
  let env: Env;
  const running: { stop(): Promise<void> }[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tm-tls-'));
    certs = createCertificates(dir);
    nats = await startConfiguredNatsServer({
      configText: [
        'jetstream { store_dir: /replaced/by/the/helper }',
        'authorization { token: $TM_TEST_NATS_TOKEN }',
        `tls { cert_file: ${JSON.stringify(certs.serverCert)}, key_file: ${JSON.stringify(certs.serverKey)}, ca_file: ${JSON.stringify(certs.ca)}, verify: true }`,
      ].join('\n'),
      env: { TM_TEST_NATS_TOKEN: JSON.stringify(NATS_TOKEN) },
    });
    redisPort = await getFreePort();
    redisServer = spawn(
      'redis-server',
      [
        '--port', '0', '--tls-port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
        '--tls-cert-file', certs.serverCert, '--tls-key-file', certs.serverKey, '--tls-ca-cert-file', certs.ca, '--tls-auth-clients', 'no',
        '--user', 'default', 'off', '--user', 'taskmanager', 'on', `>${REDIS_PASSWORD}`, '~*', '&*', '+@all',
      ],
      { stdio: 'ignore' },
    );
    await waitForPort(redisPort, 15_000);
    env = {
      NATS_URL: nats.url,
      NATS_TOKEN,
      NATS_TLS_CA_FILE: certs.ca,
      NATS_TLS_CERT_FILE: certs.clientCert,
      NATS_TLS_KEY_FILE: certs.clientKey,
      REDIS_URL: `rediss://taskmanager:${REDIS_PASSWORD}@127.0.0.1:${redisPort}`,
      REDIS_TLS_CA_FILE: certs.ca,
      LOG_LEVEL: 'silent',
    };
    const settings = readConnectionSettings(createEnvReader(env));
    const admin = await connectNats({ ...settings.nats, name: 'setup', logger });
    await setupFlow(admin, readFlowSettings(createEnvReader({})), logger);
    await admin.drain();
  }, 60_000);

  afterAll(async () => {
    for (const process of running.reverse()) await process.stop().catch(() => undefined);
    await nats?.stop();
    if (redisServer && redisServer.exitCode === null) {
      const exited = new Promise((resolve) => redisServer.once('exit', resolve));
      redisServer.kill('SIGKILL');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a function on the common runtime connects with NATS_TOKEN + mutual TLS and a Redis ACL user over TLS', async () => {
    const audit: RunningFunction = await startFunction(auditDefinition, { ...env, PORT: '0' });
    running.push(audit);
    const readiness = await fetch(`http://127.0.0.1:${audit.port}/health/readiness`);
    expect(readiness.status).toBe(200);
  });

  it('the gateway takes the same settings and stores and publishes a task', async () => {
    const gateway: RunningGateway = await startGateway(loadGatewayConfig({ ...env, PORT: '0', TM_SHUTDOWN_GRACE_MS: '500' }, { cwd: process.cwd() }), logger);
    running.push(gateway);
    const client = createTaskManagerClient({ address: `127.0.0.1:${gateway.port}` });
    try {
      const { taskId } = await client.submit({ type: 'echo', payload: { over: 'tls' } });
      const redis = await connectRedis({ ...readConnectionSettings(createEnvReader(env)).redis, name: 'test', logger });
      expect(await redis.hget(KEYS.task(taskId), 'type')).toBe('echo');
      redis.disconnect();
    } finally {
      client.close();
    }
  });

  it('wrong or missing credentials are refused, naming the variables and never showing the secret', async () => {
    const settingsOf = (overrides: Env) => readConnectionSettings(createEnvReader({ ...env, ...overrides }));
    const wrongNats = await connectNats({ ...settingsOf({ NATS_TOKEN: 'wrong-token' }).nats, name: 't', logger }).catch((error: unknown) => error);
    expect(configErrorOf(wrongNats)).toMatch(/refused the token \(NATS_TOKEN\)/);
    expect(configErrorOf(wrongNats)).not.toContain('wrong-token');

    const wrongRedis = await connectRedis({ ...settingsOf({ REDIS_URL: `rediss://taskmanager:nope-${REDIS_PASSWORD}@127.0.0.1:${redisPort}` }).redis, name: 't', logger }).catch(
      (error: unknown) => error,
    );
    expect(configErrorOf(wrongRedis)).toMatch(/refused user "taskmanager" \(REDIS_URL or REDIS_USERNAME\/REDIS_PASSWORD\)/);
    expect(configErrorOf(wrongRedis)).not.toContain(REDIS_PASSWORD);

    const anonymousRedis = await connectRedis({ ...settingsOf({ REDIS_URL: `rediss://127.0.0.1:${redisPort}` }).redis, name: 't', logger }).catch(
      (error: unknown) => error,
    );
    expect(configErrorOf(anonymousRedis)).toMatch(/refused no credentials/);
  });

  it('the servers verify certificates: without the CA, or without a client certificate, NATS refuses the connection', async () => {
    const attempt = (tls: Record<string, string>) =>
      connect({ servers: nats.url, token: NATS_TOKEN, tls, maxReconnectAttempts: 0, timeout: 2_000 }).then(
        async (nc) => {
          await nc.close();
          return 'connected';
        },
        (error: unknown) => String(error),
      );
    expect(await attempt({})).toMatch(/certificate/i);
    expect(await attempt({ caFile: certs.ca })).not.toBe('connected');
    expect(await attempt({ caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey })).toBe('connected');
  });
});
