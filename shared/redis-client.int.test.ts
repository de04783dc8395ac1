// The Redis client against a real redis-server of its own: key prefix, scripts, pipelines and
// MULTI, failing fast and reconnecting across a restart, pub/sub across a restart, credentials.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type TestServer } from '../test/helpers/servers';
import { waitFor } from '../test/helpers/ports';
import { RedisClient, ReplyError } from './redis-client';

let server: TestServer;
const clients: RedisClient[] = [];

function client(options: ConstructorParameters<typeof RedisClient>[1] = {}, url = server.url): RedisClient {
  const created = new RedisClient(url, { lazyConnect: true, ...options });
  created.on('error', () => undefined);
  clients.push(created);
  return created;
}

beforeAll(async () => {
  server = await startRedisServer();
});
afterEach(() => {
  for (const open of clients.splice(0)) open.disconnect();
});
afterAll(async () => {
  await server.stop();
});

describe('RedisClient commands', () => {
  it('puts the key prefix before the keys of commands, pipelines, MULTI and scripts, never before channels', async () => {
    const app = client({ keyPrefix: 'p1:' });
    const raw = client();
    await Promise.all([app.connect(), raw.connect()]);
    await app.set('a', '1');
    await app.hset('h', 'f', 'v');
    await app.pipeline().set('b', '2').zadd('z', 1, 'm').exec();
    await app.multi().set('c', '3').del('a').exec();
    app.defineCommand('touch', { numberOfKeys: 1, lua: "return redis.call('SET', KEYS[1], ARGV[1])" });
    await (app as unknown as { touch(key: string, value: string): Promise<string> }).touch('d', '4');
    expect((await raw.keys('p1:*')).sort()).toEqual(['p1:b', 'p1:c', 'p1:d', 'p1:h', 'p1:z']);
    expect(await raw.mget('p1:b', 'p1:c', 'p1:d')).toEqual(['2', '3', '4']);
    expect(await app.mget('b', 'c', 'nothing')).toEqual(['2', '3', null]);
    expect(await app.hgetall('h')).toEqual({ f: 'v' });
    expect(await app.hgetall('no-such-hash')).toEqual({});
    const listener = client({ lazyConnect: false });
    const heard: string[] = [];
    listener.on('message', (channel: string, message: string) => heard.push(`${channel}=${message}`));
    await listener.subscribe('news');
    expect(await app.publish('news', 'hi')).toBe(1);
    await waitFor('the message', () => heard.length > 0);
    expect(heard).toEqual(['news=hi']);
  });

  it('runs a script by its text until the server has told it the hash, by the hash after that, and by its text again after NOSCRIPT', async () => {
    const redis = client();
    await redis.connect();
    const lua = "return 'ran ' .. ARGV[1]";
    redis.defineCommand('ran', { numberOfKeys: 0, lua });
    const run = (redis as unknown as { ran(arg: string): Promise<string> }).ran;
    await redis.call('SCRIPT', 'FLUSH');
    const calls = async (): Promise<{ eval: number; evalsha: number; load: number }> => {
      const stats = String(await redis.call('INFO', 'commandstats'));
      const count = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
      return { eval: count('eval'), evalsha: count('evalsha'), load: count('script\\|load') };
    };
    await redis.call('CONFIG', 'RESETSTAT');

    expect(await run('once')).toBe('ran once');
    expect(await calls()).toEqual({ eval: 1, evalsha: 0, load: 1 });
    expect(await run('twice')).toBe('ran twice');
    expect(await calls()).toEqual({ eval: 1, evalsha: 1, load: 1 });

    await redis.call('SCRIPT', 'FLUSH');
    expect(await run('after a flush')).toBe('ran after a flush');
    // The hash first (refused: NOSCRIPT), then the text, which the server keeps: the hash works again.
    expect(await calls()).toEqual({ eval: 2, evalsha: 2, load: 1 });
    expect(await run('again')).toBe('ran again');
    expect(await calls()).toEqual({ eval: 2, evalsha: 3, load: 1 });
  });

  it('gives each pipelined command its own outcome, and refuses a transaction with the reason of the command Redis would not queue', async () => {
    const redis = client();
    await redis.connect();
    await redis.set('text', 'x');
    const replies = await redis.pipeline([['incr', 'text'], ['get', 'text']]).exec();
    expect(replies?.[0]?.[0]).toBeInstanceOf(ReplyError);
    expect(replies?.[1]).toEqual([null, 'x']);
    await expect(redis.pipeline().zadd('z', 'not-a-score', 'm').exec()).resolves.toEqual([[expect.any(ReplyError), null]]);
    await expect(redis.transaction([{ command: 'set', args: ['t', '1'] }, { command: 'nosuchcommand', args: [] }])).rejects.toThrow(/unknown command/i);
    expect(await redis.exists('t')).toBe(0);
    expect(await redis.multi().incr('n').incr('n').hgetall('text').exec()).toEqual([
      [null, 1],
      [null, 2],
      [expect.any(ReplyError), null],
    ]);
  });

  it('reads a bulk reply as bytes where the value is binary (DUMP)', async () => {
    const redis = client();
    await redis.connect();
    await redis.rpush('list', 'a', 'b');
    const dumped = await redis.dumpBuffer('list');
    expect(Buffer.isBuffer(dumped)).toBe(true);
    await redis.call('RESTORE', 'copy', 0, dumped!);
    expect(await redis.lrange('copy', 0, -1)).toEqual(['a', 'b']);
  });
});

describe('RedisClient across a restart of Redis', () => {
  it('fails at once while Redis is down (no offline queue), fails what was in flight, and reconnects on its own', async () => {
    const redis = client({ enableOfflineQueue: false, retryStrategy: () => 50 });
    await redis.connect();
    // Blocks for up to 5 s on an empty list: in flight when Redis goes.
    const inFlight = redis.call('BLPOP', 'nothing-here', 5);
    const admin = client();
    await waitFor('the BLPOP blocked', async () => Number(/blocked_clients:(\d+)/.exec(await admin.info('clients'))?.[1]) === 1);
    admin.disconnect();
    server.kill('SIGKILL');
    await expect(inFlight).rejects.toThrow('Connection is closed.');
    await waitFor('the client to see Redis gone', () => redis.status !== 'ready');
    await expect(redis.get('x')).rejects.toThrow("Stream isn't writeable and enableOfflineQueue options is false");
    await server.restart();
    await waitFor('the client ready again', () => redis.status === 'ready', 10_000);
    expect(await redis.set('x', 'back')).toBe('OK');
  });

  it('subscribes again after a reconnect and hears what is published after it', async () => {
    const subscriber = client({ lazyConnect: false, retryStrategy: () => 50 });
    const heard: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => heard.push(message));
    await subscriber.subscribe('alerts');
    server.kill('SIGKILL');
    await server.restart();
    const publisher = client({ retryStrategy: () => 50 });
    await publisher.connect();
    await waitFor('the subscription back', async () => (await publisher.publish('alerts', 'after')) === 1, 10_000);
    await waitFor('the message', () => heard.includes('after'));
  });

  it('connects lazily on its first command, and a command sent while it connects waits for it', async () => {
    const redis = client({ enableOfflineQueue: true });
    expect(redis.status).toBe('wait');
    expect(await redis.ping()).toBe('PONG');
    expect(redis.status).toBe('ready');
  });
});

describe('RedisClient credentials and name', () => {
  it('authenticates with a user and password, names its connection, and says why Redis refused bad credentials', async () => {
    const admin = client();
    await admin.connect();
    await admin.call('ACL', 'SETUSER', 'app', 'on', '>s3cret', '~*', '+@all');
    try {
      const good = client({ username: 'app', password: 's3cret', connectionName: 'tm-test' });
      await good.connect();
      expect(await good.client('GETNAME')).toBe('tm-test');
      const bad = client({ username: 'app', password: 'wrong' });
      await expect(bad.connect()).rejects.toThrow(/WRONGPASS/);
    } finally {
      await admin.call('ACL', 'DELUSER', 'app');
    }
  });
});
