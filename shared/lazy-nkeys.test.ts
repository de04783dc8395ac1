import { describe, expect, it } from 'vitest';
import { isNkeysLoaded, nkeys } from './lazy-nkeys';

describe('nkeys, loaded on first use', () => {
  it('loads nothing until a key function is reached for, then serves the real module', () => {
    // This file's module graph is fresh: nothing has touched the proxy yet.
    expect(isNkeysLoaded()).toBe(false);

    const user = nkeys.createUser();
    expect(isNkeysLoaded()).toBe(true);
    // A user's public key starts with U; the seed round-trips to the same key pair.
    expect(user.getPublicKey()).toMatch(/^U[A-Z2-7]{55}$/);
    const again = nkeys.fromSeed(user.getSeed());
    expect(again.getPublicKey()).toBe(user.getPublicKey());
    const nonce = new TextEncoder().encode('nonce from the server');
    expect(nkeys.fromPublic(user.getPublicKey()).verify(nonce, again.sign(nonce))).toBe(true);
  });

  it('enumerates like the module namespace nats-core re-exports', () => {
    expect(Object.keys(nkeys)).toContain('fromSeed');
    expect('encode' in nkeys).toBe(true);
    const bytes = new Uint8Array([1, 2, 3, 250]);
    expect(nkeys.decode(nkeys.encode(bytes))).toEqual(bytes);
  });
});
