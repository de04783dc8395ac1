import { createServer } from 'node:net';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { getFreePort } from './ports';

describe('getFreePort', () => {
  it('hands out distinct ports below the ephemeral range, each free to listen on', async () => {
    const ports = await Promise.all(Array.from({ length: 200 }, () => getFreePort()));
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(20_000);
      expect(port).toBeLessThan(32_768);
    }
    const server = createServer().listen(ports[0], '0.0.0.0');
    await once(server, 'listening');
    server.close();
  });
});
