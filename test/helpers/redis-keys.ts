// Test-only: listing keys through a client that has a key prefix. The client prefixes the keys of
// commands, but neither the pattern of KEYS nor the names it returns.
import type { Redis } from '../../shared/redis';

/** The keys matching `pattern` under the client's prefix, as names relative to it: what KEYS.*
 * builds and what the client's own commands take. */
export async function keysMatching(redis: Redis, pattern: string): Promise<string[]> {
  const prefix = redis.options.keyPrefix ?? '';
  return (await redis.keys(`${prefix}${pattern}`)).map((key) => key.slice(prefix.length));
}
