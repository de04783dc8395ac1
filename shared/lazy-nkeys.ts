// nats.js's nkeys (ed25519 key pairs over tweetnacl), loaded on first use. nats-core requires it
// when it loads, for the nkey and JWT authentication that this project never configures (NATS
// takes NATS_USER/NATS_PASSWORD or NATS_TOKEN: shared/config.ts). Running nkeys and tweetnacl at
// start cost every process that connects to NATS part of its cold start for nothing. The build
// serves nats-core's `./nkeys` module from here (scripts/build.mjs); anything that does reach for
// a key pair gets the real module, loaded then.
import type * as NKeys from '@nats-io/nkeys';

let nkeysModule: typeof NKeys | undefined;

function loadNkeys(): typeof NKeys {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deferred to first use (cold start)
  nkeysModule ??= require('@nats-io/nkeys') as typeof NKeys;
  return nkeysModule;
}

/** Whether anything has used nkeys yet (for the test that shows the start does not). */
export function isNkeysLoaded(): boolean {
  return nkeysModule !== undefined;
}

/** Stands for `import * as nkeys from '@nats-io/nkeys'`, as nats-core's own `./nkeys` exports it. */
export const nkeys: typeof NKeys = new Proxy({} as typeof NKeys, {
  get: (_target, key) => Reflect.get(loadNkeys(), key),
  has: (_target, key) => Reflect.has(loadNkeys(), key),
  ownKeys: () => Reflect.ownKeys(loadNkeys()),
  getOwnPropertyDescriptor: (_target, key) => {
    const descriptor = Reflect.getOwnPropertyDescriptor(loadNkeys(), key);
    // A proxy may not report a property of its (empty) target as non-configurable.
    return descriptor ? { ...descriptor, configurable: true } : undefined;
  },
});
