// Who can reach a listener: this machine's non-loopback addresses, a TCP connect to an address
// and port, a listener on every interface to prove those addresses answer at all, and the
// listening sockets the kernel lists (/proc/net/tcp and tcp6, Linux).
import { existsSync, readFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';

export type MachineAddress = Readonly<{
  address: string;
  family: 'IPv4' | 'IPv6';
  interface: string;
  /** What to connect to: a link-local IPv6 address needs its zone (fe80::1%eth0). */
  host: string;
}>;

/** The addresses other machines could use to reach this one (IPv4 and IPv6, not `internal`). */
export function nonLoopbackAddresses(): MachineAddress[] {
  return Object.entries(networkInterfaces()).flatMap(([name, entries]) =>
    (entries ?? [])
      .filter((entry) => !entry.internal)
      .map((entry) => ({
        address: entry.address,
        family: entry.family,
        interface: name,
        host: entry.family === 'IPv6' && entry.address.toLowerCase().startsWith('fe80:') ? `${entry.address}%${name}` : entry.address,
      })),
  );
}

export type ConnectOutcome = 'connected' | 'timeout' | string;

/** Opens a TCP connection and closes it: 'connected', 'timeout' or the error code (ECONNREFUSED). */
export function tryConnect(host: string, port: number, timeoutMs = 3_000): Promise<ConnectOutcome> {
  return new Promise((done) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      done('timeout');
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      done('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      done(error.code ?? error.message);
    });
  });
}

/** A TCP listener on every interface (IPv6 and IPv4 when the machine has IPv6), port chosen by the system. */
export async function listenEverywhere(): Promise<{ port: number; close(): Promise<void> }> {
  const listen = (host: string) =>
    new Promise<Server>((resolve, reject) => {
      const server = createServer((socket) => socket.destroy());
      server.once('error', reject);
      server.listen(0, host, () => resolve(server));
    });
  const server = await listen('::').catch(() => listen('0.0.0.0'));
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export type ListeningSocket = Readonly<{ address: string; port: number }>;

/** /proc/net's hex address: IPv4 as one little-endian word, IPv6 as four. */
function toAddress(hex: string): string {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((word) => (word.match(/.{2}/g) ?? []).reverse().map((byte) => parseInt(byte, 16)));
  if (bytes.length === 4) return bytes.join('.');
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16));
  // The URL parser writes an IPv6 address in its shortest form (::1, ::, ::ffff:7f00:1).
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** Parses /proc/net/tcp or tcp6: the sockets in state LISTEN (0A). */
export function toListeningSockets(text: string): ListeningSocket[] {
  return text
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[3] === '0A' && fields[1]?.includes(':'))
    .map((fields) => {
      const [hex = '', port = ''] = fields[1]!.split(':');
      return { address: toAddress(hex), port: parseInt(port, 16) };
    });
}

/** The listening TCP sockets of this network namespace, or undefined where /proc/net is missing. */
export function listeningSockets(): ListeningSocket[] | undefined {
  const files = ['/proc/net/tcp', '/proc/net/tcp6'].filter((file) => existsSync(file));
  if (files.length === 0) return undefined;
  return files.flatMap((file) => toListeningSockets(readFileSync(file, 'utf8')));
}

/** 127.0.0.0/8, ::1 and IPv4-mapped 127/8: only this machine reaches it. */
export function isLoopbackAddress(address: string): boolean {
  return /^127\./.test(address) || address === '::1' || /^::ffff:(127\.|7f[0-9a-f]{2}:)/i.test(address);
}
