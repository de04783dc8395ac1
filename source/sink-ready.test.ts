import { createServer } from 'node:net';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../shared/logger';
import { getFreePort } from '../test/helpers/ports';
import { probeTcp, toSinkAddress, waitForSink } from './sink-ready';

const logger = createLogger('sink-ready-test', 'silent');

describe('toSinkAddress', () => {
  it('takes host and port from the URL, with the scheme default', () => {
    expect(toSinkAddress('http://127.0.0.1:8103/')).toEqual({ host: '127.0.0.1', port: 8103 });
    expect(toSinkAddress('http://worker.default.svc.cluster.local')).toEqual({ host: 'worker.default.svc.cluster.local', port: 80 });
    expect(toSinkAddress('https://worker.example.com/path')).toEqual({ host: 'worker.example.com', port: 443 });
    expect(toSinkAddress('http://[::1]:9000/')).toEqual({ host: '::1', port: 9000 });
  });
});

describe('waitForSink', () => {
  it('waits while the sink refuses connections and resolves once it listens', async () => {
    const port = await getFreePort();
    let probes = 0;
    const waiting = waitForSink(`http://127.0.0.1:${port}/`, {
      signal: new AbortController().signal,
      logger,
      retryMs: 20,
      probe: (host, p) => {
        probes += 1;
        return probeTcp(host, p);
      },
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(probes).toBeGreaterThan(1);
    const server = createServer((socket) => socket.destroy()).listen(port, '127.0.0.1');
    await once(server, 'listening');
    try {
      await expect(waiting).resolves.toBe(true);
    } finally {
      server.close();
    }
  });

  it('gives up (false) when stopped before the sink came up', async () => {
    const controller = new AbortController();
    const waiting = waitForSink('http://127.0.0.1:1/', {
      signal: controller.signal,
      logger,
      retryMs: 10_000,
      probe: async () => Promise.reject(new Error('ECONNREFUSED')),
    });
    controller.abort();
    await expect(waiting).resolves.toBe(false);
  });
});
