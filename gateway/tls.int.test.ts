// The gateway serving TLS (TM_TLS_CERT_FILE, TM_TLS_KEY_FILE) with a throwaway CA made by openssl
// in the test, real nats-server and redis-server behind it, and the real `tm` command (bin/tm.js,
// built by `npm run build`) in front: with --ca it works, token included; without TLS, or with
// TLS but without the CA, it fails with a message that says what to change.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskManagerClient } from '../client/client';
import { createEnvReader, readFlowSettings } from '../shared/config';
import { createLogger } from '../shared/logger';
import { setupFlow } from '../shared/flow-setup';
import { createCertificates, type TestCertificates } from '../test/helpers/certificates';
import { startNatsServer, startRedisServer, type TestServer } from '../test/helpers/servers';
import { loadGatewayConfig } from './config';
import { startGateway, type RunningGateway } from './server';

const API_KEY = `acme-${'0123456789abcdef'.repeat(2)}`;
const TM = resolve('bin/tm.js');
const logger = createLogger('tls-test', 'silent');

let natsServer: TestServer;
let redisServer: TestServer;
let nc: NatsConnection;
let gateway: RunningGateway;
let dir: string;
let certs: TestCertificates;
let address: string;

type Run = { code: number | null; stdout: string; stderr: string };

/** `tm …` as a user runs it: its own process, only the TM_* variables given here. */
function tm(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('TM_')));
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [TM, ...args], { env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', fail);
    child.once('exit', (code) => done({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  if (!existsSync(resolve('dist/tm.cjs'))) throw new Error('dist/tm.cjs is missing: run `npm run build` first (npm test does)');
  dir = mkdtempSync(join(tmpdir(), 'tm-gateway-tls-'));
  certs = createCertificates(dir);
  [natsServer, redisServer] = await Promise.all([startNatsServer(), startRedisServer()]);
  nc = await connect({ servers: natsServer.url });
  await setupFlow(nc, readFlowSettings(createEnvReader({})), logger);
  const config = loadGatewayConfig(
    {
      PORT: '0',
      NATS_URL: natsServer.url,
      REDIS_URL: redisServer.url,
      TM_SHUTDOWN_GRACE_MS: '1000',
      TM_API_KEYS: `acme:${API_KEY}`,
      TM_TLS_CERT_FILE: certs.serverCert,
      TM_TLS_KEY_FILE: certs.serverKey,
    },
    { cwd: process.cwd() },
  );
  gateway = await startGateway(config, logger);
  // The server certificate holds DNS:localhost and IP:127.0.0.1.
  address = `localhost:${gateway.port}`;
});

afterAll(async () => {
  await gateway?.stop();
  await nc?.close();
  await natsServer?.stop();
  await redisServer?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('tm against a gateway that serves TLS', () => {
  it('with --ca and a token: submit and get work, nothing on stderr', async () => {
    const submitted = await tm(['submit', 'echo', '{"over":"tls"}', '--address', address, '--ca', certs.ca, '--json'], { TM_TOKEN: API_KEY });
    expect(submitted.stderr).toBe('');
    expect(submitted.code).toBe(0);
    const { taskId } = JSON.parse(submitted.stdout) as { taskId: string };
    // The CA from the environment instead of the flag, and the IP address the certificate holds too.
    const got = await tm(['get', taskId, '--json'], { TM_TOKEN: API_KEY, TM_CA_FILE: certs.ca, TM_ADDRESS: `127.0.0.1:${gateway.port}` });
    expect(got.stderr).toBe('');
    expect(got.code).toBe(0);
    expect(JSON.parse(got.stdout)).toMatchObject({ taskId, type: 'echo', payload: { over: 'tls' } });
  });

  it('without TLS against the TLS port: exit 1, UNAVAILABLE, and a hint to add --tls or --ca', async () => {
    const plain = await tm(['get', 'some-task', '--address', address], { TM_TOKEN: API_KEY });
    expect(plain.code).toBe(1);
    const [message, hint] = plain.stderr.split('\n');
    expect(message).toMatch(/^tm: UNAVAILABLE: /);
    expect(hint).toBe('tm: hint: the connection was refused at the protocol level: if the gateway serves TLS, add --tls (or --ca <file> for a private CA)');
    expect(plain.stderr).not.toContain(API_KEY);
  });

  it("with --tls but not the test CA: the certificate is refused, with a hint to pass --ca", async () => {
    const untrusted = await tm(['get', 'some-task', '--address', address, '--tls', '--json'], { TM_TOKEN: API_KEY });
    expect(untrusted.code).toBe(1);
    const { error } = JSON.parse(untrusted.stderr) as { error: { code: string; message: string; hint: string } };
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.message).toMatch(/certificate/);
    expect(error.hint).toMatch(/certificate is not trusted .*--ca <file>/);
  });

  it('the client library connects with tls: { ca }', async () => {
    const client = createTaskManagerClient({ address, token: API_KEY, tls: { ca: readFileSync(certs.ca) } });
    try {
      const { taskId } = await client.submit({ type: 'echo', payload: { from: 'library' } });
      expect((await client.getTask(taskId)).taskId).toBe(taskId);
    } finally {
      client.close();
    }
  });
});
