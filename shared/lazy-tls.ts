// node:tls and node:https, loaded on first use. Loading node:tls costs a starting process 9–15 ms
// (timed here on top of node:crypto, which loads anyway), and nothing needs it unless NATS, Redis
// or an HTTP target is reached over TLS. Every bundled import of node:tls from nats.js's transport
// comes here instead (scripts/build.mjs), as do ours.
import type * as Tls from 'node:tls';
import type * as Https from 'node:https';

let tlsModule: typeof Tls | undefined;
let httpsModule: typeof Https | undefined;

function loadTls(): typeof Tls {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deferred to first use (cold start)
  tlsModule ??= require('node:tls') as typeof Tls;
  return tlsModule;
}

/** node:https, loaded on the first call. */
export function loadHttps(): typeof Https {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deferred to first use (cold start)
  httpsModule ??= require('node:https') as typeof Https;
  return httpsModule;
}

export const connect: typeof Tls.connect = ((...args: Parameters<typeof Tls.connect>) => loadTls().connect(...args)) as typeof Tls.connect;

/** Stands for node:tls's TLSSocket in `instanceof` checks without loading node:tls for them: a
 * socket can only be a TLSSocket once node:tls was loaded to make it. */
export class TLSSocket {
  static [Symbol.hasInstance](value: unknown): boolean {
    return tlsModule !== undefined && value instanceof tlsModule.TLSSocket;
  }
}
