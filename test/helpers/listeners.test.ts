// The listener helpers: /proc/net parsing on lines of a real kernel, and a connect probe that
// tells a listener on every interface from one on loopback only.
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { isLoopbackAddress, listenEverywhere, listeningSockets, nonLoopbackAddresses, toListeningSockets, tryConnect } from './listeners';

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   107        0 9783 1 0000000064a33342 100 0 0 10 0
   1: 00000000:C383 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5345 1 00000000a8405621 100 0 0 10 0
   2: 0100007F:0CEA 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000   107        0 9790 1 0000000064a33342 100 0 0 10 0
   3: 020200C0:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5346 1 00000000a8405621 100 0 0 10 0
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:18EB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5346 1 0000000079a437bf 100 0 0 10 0
   1: 00000000000000000000000000000000:1111 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 5966 1 00000000dc0409d6 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:2222 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 5967 1 00000000dc0409d6 100 0 0 10 0
`;

describe('toListeningSockets', () => {
  it('reads the LISTEN sockets of /proc/net/tcp, skipping connections', () => {
    expect(toListeningSockets(TCP)).toEqual([
      { address: '127.0.0.1', port: 3306 },
      { address: '0.0.0.0', port: 50051 },
      { address: '192.0.2.2', port: 8080 },
    ]);
  });

  it('reads /proc/net/tcp6 in the shortest IPv6 form', () => {
    expect(toListeningSockets(TCP6)).toEqual([
      { address: '::1', port: 6379 },
      { address: '::', port: 4369 },
      { address: '::ffff:7f00:1', port: 8738 },
    ]);
  });

  it('tells loopback addresses from the others', () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', '::ffff:7f00:1', '::ffff:127.0.0.1'].map(isLoopbackAddress)).toEqual([true, true, true, true, true]);
    expect(['0.0.0.0', '::', '192.0.2.2', 'fd00::2', '::ffff:c000:202'].map(isLoopbackAddress)).toEqual([false, false, false, false, false]);
  });
});

describe('the connect probe on this machine', () => {
  it('lists a listener of this process among the kernel\'s listening sockets', async () => {
    const sockets = listeningSockets();
    if (!sockets) return; // not Linux: the stack test says so itself
    const server = createServer();
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const port = (server.address() as { port: number }).port;
    expect(listeningSockets()).toContainEqual({ address: '127.0.0.1', port });
    await new Promise((done) => server.close(done));
  });

  it('reaches a listener on every interface through each non-loopback address, and one on 127.0.0.1 through none', async (ctx) => {
    const addresses = nonLoopbackAddresses();
    if (addresses.length === 0) ctx.skip('this machine has no non-loopback address to probe');
    const everywhere = await listenEverywhere();
    const loopback = createServer();
    await new Promise<void>((done) => loopback.listen(0, '127.0.0.1', done));
    const loopbackPort = (loopback.address() as { port: number }).port;
    try {
      for (const { host } of addresses) {
        expect(await tryConnect(host, everywhere.port), host).toBe('connected');
        expect(await tryConnect(host, loopbackPort), host).not.toBe('connected');
      }
      expect(await tryConnect('127.0.0.1', loopbackPort)).toBe('connected');
    } finally {
      await everywhere.close();
      await new Promise((done) => loopback.close(done));
    }
  });
});
