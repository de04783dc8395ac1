import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ownsListener } from './servers';

describe('ownsListener', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  it.runIf(process.platform === 'linux')('tells the process that listens on a port from any other', async () => {
    server = createServer();
    const port = await new Promise<number>((resolve) => server!.listen(0, '127.0.0.1', () => resolve((server!.address() as { port: number }).port)));
    expect(ownsListener(process.pid, port)).toBe(true);
    expect(ownsListener(process.ppid, port)).toBe(false);
    server.close();
    await new Promise((resolve) => server!.once('close', resolve));
    expect(ownsListener(process.pid, port)).toBe(false);
  });
});
