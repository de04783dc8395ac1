// Which arguments of a command are keys, for the client's key prefix, and how replies are shaped:
// pure, so the table can be read and tested apart from the connection (redis-client.ts).
import type { CommandArg, Reply } from './resp';

/** How a command's arguments hold keys: the first one, all of them, none, or a script's
 * (EVAL script numkeys key… arg…). A command outside the table is sent as it is. */
type KeySpec = 'first' | 'all' | 'none' | 'script';
const KEY_SPECS: Record<string, KeySpec> = {
  get: 'first',
  set: 'first',
  del: 'all',
  exists: 'all',
  expire: 'first',
  pexpire: 'first',
  ttl: 'first',
  pttl: 'first',
  incr: 'first',
  type: 'first',
  hget: 'first',
  hgetall: 'first',
  hmget: 'first',
  hset: 'first',
  hlen: 'first',
  zscore: 'first',
  zadd: 'first',
  zrem: 'first',
  zcard: 'first',
  zrange: 'first',
  zrangebyscore: 'first',
  zrevrangebyscore: 'first',
  lrange: 'first',
  llen: 'first',
  lpush: 'first',
  rpush: 'first',
  mget: 'all',
  dump: 'first',
  eval: 'script',
  evalsha: 'script',
};

/** Replies shaped as ioredis shapes them: HGETALL as an object. */
export function shape(command: string, reply: Reply): unknown {
  if (command === 'hgetall' && Array.isArray(reply)) {
    const record: Record<string, string> = {};
    for (let i = 0; i + 1 < reply.length; i += 2) record[String(reply[i])] = String(reply[i + 1]);
    return record;
  }
  return reply;
}

/** The command's arguments with `prefix` before each key (lower-case command names). */
export function withPrefix(prefix: string, command: string, args: CommandArg[]): CommandArg[] {
  if (!prefix) return args;
  const spec = KEY_SPECS[command] ?? 'none';
  if (spec === 'first') return args.length > 0 ? [`${prefix}${String(args[0])}`, ...args.slice(1)] : args;
  if (spec === 'all') return args.map((arg) => `${prefix}${String(arg)}`);
  if (spec === 'script') {
    const keyCount = Number(args[1]);
    return args.map((arg, index) => (index >= 2 && index < 2 + keyCount ? `${prefix}${String(arg)}` : arg));
  }
  return args;
}

