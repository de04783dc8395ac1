// node:crypto, loaded on first use. Loading it costs a starting process 8-10 ms (it brings in
// some twenty internal modules), and a function's start needs no cryptography: span ids are drawn
// only at a trace's root, the Redis client learns its scripts' SHA1 from the server, and nats.js's
// inbox ids come from shared/nuid.ts. Whatever does need it (the worker's attempt tokens, the
// `hash` task type) loads it then. A top-level `import ... from 'node:crypto'` would load it at start
// in every bundle that includes the importing module, used or not.
import type * as Crypto from 'node:crypto';

let cryptoModule: typeof Crypto | undefined;

function loadCrypto(): typeof Crypto {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deferred to first use (cold start)
  cryptoModule ??= require('node:crypto') as typeof Crypto;
  return cryptoModule;
}

export function randomUUID(): string {
  return loadCrypto().randomUUID();
}

export function randomFillSync<T extends NodeJS.ArrayBufferView>(buffer: T): T {
  return loadCrypto().randomFillSync(buffer);
}

export function createHash(algorithm: string): Crypto.Hash {
  return loadCrypto().createHash(algorithm);
}
