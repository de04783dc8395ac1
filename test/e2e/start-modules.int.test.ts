// What a function's bundle loads before it is ready, started as `npm start` starts it, with NATS
// and Redis over plain TCP: not node:tls or node:https, nor node:crypto. Loading node:tls costs a
// start 9-15 ms, node:crypto 8-10 (docs/performance.md), and Knative's scale from zero waits for
// them (shared/lazy-crypto.ts, shared/nuid.ts). nats.js's transport
// requires node:tls when it loads; the build serves that import from shared/lazy-tls.ts.
// The same bundle started against a nats-server that requires TLS loads node:tls on its first
// connection and becomes ready. Nor does a function's bundle carry the JetStream manager, or run
// nats-core's nkeys (and tweetnacl) before something uses them (shared/lazy-nkeys.ts).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toLocalStack, toNodeOptions } from '../../scripts/local-stack';
import { getFreePort, waitFor } from '../helpers/ports';
import { createCertificates } from '../helpers/certificates';
import { startConfiguredNatsServer, startNatsServer, startRedisServer, type TestServer } from '../helpers/servers';

let nats: TestServer;
let redis: TestServer;
let dir: string;

beforeAll(async () => {
  nats = await startNatsServer();
  redis = await startRedisServer();
  dir = mkdtempSync(join(tmpdir(), 'tm-start-modules-'));
  // Runs before the bundle; at exit it writes the built-in modules the process loaded.
  writeFileSync(
    join(dir, 'record-modules.cjs'),
    "process.on('exit', () => require('node:fs').writeFileSync(process.env.TM_TEST_MODULES_FILE, JSON.stringify(process.moduleLoadList)));\n",
  );
});

afterAll(async () => {
  await nats?.stop();
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Starts the function as the local stack does, waits until it is ready, stops it, and returns the
 * built-in modules it had loaded by then. */
async function modulesLoadedUntilReady(name: string, over: { natsUrl: string; env?: Record<string, string> }): Promise<string[]> {
  const port = await getFreePort();
  const spec = toLocalStack({
    distDir: resolve('dist'),
    natsUrl: over.natsUrl,
    redisUrl: redis.url,
    host: '127.0.0.1',
    ports: { [name]: port },
    nodeOptions: toNodeOptions(undefined),
    env: { LOG_LEVEL: 'error', ...over.env },
  }).find((candidate) => candidate.name === name);
  if (!spec) throw new Error(`no process ${name} in the local stack`);
  const file = join(dir, `${name}.json`);
  const child = spawn(process.execPath, ['--require', join(dir, 'record-modules.cjs'), ...spec.args], {
    env: { ...process.env, ...spec.env, TM_TEST_MODULES_FILE: file },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', resolveExit));
  try {
    await waitFor(`${name} ready`, async () => {
      if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
      const response = await fetch(`http://127.0.0.1:${port}/health/readiness`).catch(() => undefined);
      return response?.status === 200;
    });
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
  return (JSON.parse(readFileSync(file, 'utf8')) as string[]).filter((entry) => entry.startsWith('NativeModule '));
}

describe("a function's start", () => {
  it.each(['worker', 'ingest', 'notifier', 'scheduler', 'enricher'])('%s loads neither node:tls, node:https nor node:crypto before it is ready', async (name) => {
    const modules = await modulesLoadedUntilReady(name, { natsUrl: nats.url });
    expect(modules).toContain('NativeModule http');
    expect(modules.filter((entry) => /^NativeModule (tls|https|_tls_wrap|internal\/tls\/)/.test(entry))).toEqual([]);
    expect(modules.filter((entry) => /^NativeModule (crypto|internal\/crypto\/)/.test(entry))).toEqual([]);
  });

  // What a bundle carries is what its start reads and compiles. esbuild marks each module it
  // bundles with a `// <path>` line.
  it.each(['worker', 'ingest', 'notifier', 'audit', 'result-store', 'deadletter'])(
    "%s's bundle carries no JetStream manager, and nats-core's nkeys comes from the lazy module",
    (name) => {
      const bundle = readFileSync(resolve('dist', 'functions', `${name}.cjs`), 'utf8');
      // Only setup, the sources, the gateway and the scheduler manage streams and consumers
      // (shared/flow-setup.ts, shared/consumer-holds.ts).
      expect(bundle).not.toMatch(/^\/\/ node_modules\/@nats-io\/jetstream\//m);
      expect(bundle).toMatch(/^\/\/ node_modules\/@nats-io\/nats-core\//m);
      expect(bundle).toMatch(/^\/\/ shared\/lazy-nkeys\.ts$/m);
      expect(bundle).not.toMatch(/^\/\/ node_modules\/@nats-io\/nats-core\/lib\/nkeys\.js$/m);
    },
  );

  it('loads node:tls when NATS requires TLS, and connects over it', async () => {
    const certs = createCertificates(dir);
    const secured = await startConfiguredNatsServer({
      configText: [
        'jetstream { store_dir: /replaced/by/the/helper }',
        `tls { cert_file: ${JSON.stringify(certs.serverCert)}, key_file: ${JSON.stringify(certs.serverKey)}, ca_file: ${JSON.stringify(certs.ca)}, verify: true }`,
      ].join('\n'),
      env: {},
    });
    try {
      const modules = await modulesLoadedUntilReady('notifier', {
        natsUrl: secured.url,
        env: { NATS_TLS_CA_FILE: certs.ca, NATS_TLS_CERT_FILE: certs.clientCert, NATS_TLS_KEY_FILE: certs.clientKey },
      });
      expect(modules).toContain('NativeModule tls');
    } finally {
      await secured.stop();
    }
  });
});
