// The source pulls nothing until its sink accepts connections. Why: every process of a stack (and
// every pod of a rollout) starts at once, and a source is ready in a fraction of the time its
// function takes. Deliveries to a function that is not listening yet fail with "connection
// refused", and each failure costs one of the message's MaxDeliver attempts: with a short retry
// schedule a whole backlog would be dead-lettered as undeliverable by a restart (fault 15).
// Only the start waits: a sink that goes away later is retried on the contract's schedule and
// dead-lettered when it stays away (docs/design.md §6), as it should be.
// A TCP connect, not an HTTP request: on Knative the sink is the activator, which accepts at once
// and would cold-start a scaled-to-zero function for a probe.
import { connect } from 'node:net';
import { describeError } from '../shared/errors';
import type { Logger } from '../shared/logger';

/** Host and port a sink URL connects to. */
export function toSinkAddress(sink: string): { host: string; port: number } {
  const url = new URL(sink);
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port };
}

/** Resolves once a TCP connection to host:port succeeds; rejects with the connection error. */
export function probeTcp(host: string, port: number, timeoutMs = 2_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}

export type SinkWaitOptions = {
  signal: AbortSignal;
  logger: Logger;
  probe?: (host: string, port: number) => Promise<void>;
  /** Pause between probes. */
  retryMs?: number;
};

/** True once the sink accepts connections; false when `signal` aborts first. */
export async function waitForSink(sink: string, options: SinkWaitOptions): Promise<boolean> {
  const { host, port } = toSinkAddress(sink);
  const probe = options.probe ?? probeTcp;
  for (let failures = 0; !options.signal.aborted; failures += 1) {
    try {
      await probe(host, port);
      if (failures > 0) options.logger.info({ sink }, 'sink reachable: pulling');
      return true;
    } catch (error) {
      if (failures === 0) options.logger.warn({ sink, err: describeError(error) }, 'sink not reachable yet: not pulling until it is');
    }
    if (options.signal.aborted) break;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, options.retryMs ?? 250);
      function done() {
        clearTimeout(timer);
        options.signal.removeEventListener('abort', done);
        resolve();
      }
      options.signal.addEventListener('abort', done, { once: true });
    });
  }
  return false;
}
