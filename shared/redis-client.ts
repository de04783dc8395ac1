// A small Redis client: the commands this project sends, its Lua scripts, pipelines, MULTI and
// pub/sub, over one socket with RESP2 (resp.ts). It replaces ioredis, whose load alone cost each
// process about 17 MiB of memory and 20–50 ms of its cold start (about a thousand generated
// command methods, cluster and sentinel support we never use: docs/performance.md).
//
// What it keeps of ioredis's behaviour, because the code and the fault suite rely on it:
// - `keyPrefix` goes before the keys of each command, of pipelines and MULTI, and the KEYS of
//   scripts; never before channels or patterns (docs/decisions/0011-redis-key-prefix.md);
// - while the connection is not ready a command fails at once ("Stream isn't writeable …"), or
//   waits for it with `enableOfflineQueue`; a command in flight when the connection drops fails
//   with "Connection is closed." (the caller's source retries the delivery);
// - it reconnects on its own, after `retryStrategy(attempt)` ms, and says so with the events
//   'connect', 'ready', 'error', 'close', 'reconnecting' and 'end'; a subscriber subscribes again
//   after a reconnect unless `autoResubscribe` is false;
// - the writes of one event-loop turn leave in one syscall (write-coalescing.ts).
import { EventEmitter } from 'node:events';
import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls } from './lazy-tls';
import { shape, withPrefix } from './redis-commands';
import { encodeCommand, ReplyError, ReplyParser, type CommandArg, type Reply } from './resp';
import { coalesceWrites } from './write-coalescing';

export { ReplyError } from './resp';

export type RedisClientOptions = {
  connectionName?: string | undefined;
  keyPrefix?: string | undefined;
  /** Connect on `connect()` or the first command (default: at once). */
  lazyConnect?: boolean | undefined;
  /** Commands sent while the connection is not ready wait for it (default), or fail at once. */
  enableOfflineQueue?: boolean | undefined;
  /** Milliseconds before reconnect attempt `times` (1, 2, …); null: stop reconnecting. */
  retryStrategy?: ((times: number) => number | null) | undefined;
  username?: string | undefined;
  password?: string | undefined;
  tls?: { ca?: string | Buffer | undefined } | undefined;
  /** Subscribe again after a reconnect (default true). */
  autoResubscribe?: boolean | undefined;
};

type Str = string | number;

export type RedisStatus = 'wait' | 'connecting' | 'connect' | 'ready' | 'reconnecting' | 'close' | 'end';

/** The server's address and database, from a redis:// or rediss:// URL. */
type Endpoint = { host: string; port: number; db: number; tls: boolean; username?: string | undefined; password?: string | undefined };

function parseUrl(url: string): Endpoint {
  const parsed = new URL(url);
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new Error(`not a redis:// or rediss:// URL: ${parsed.protocol}`);
  const db = Number(parsed.pathname.replace(/^\//, '') || 0);
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port: Number(parsed.port || 6379),
    db: Number.isInteger(db) ? db : 0,
    tls: parsed.protocol === 'rediss:',
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
  };
}

type Pending = {
  command: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  /** SUBSCRIBE and friends: one reply per channel. */
  replies?: number;
  /** A bulk reply as bytes, not text (DUMP). */
  buffers?: boolean;
};

const PUBSUB_REPLIES = new Set(['subscribe', 'psubscribe', 'unsubscribe', 'punsubscribe']);

export class RedisClient extends EventEmitter {
  status: RedisStatus = 'wait';
  readonly options: RedisClientOptions;
  /** The current socket (write-coalescing and tests). */
  stream: Socket | undefined;
  private readonly endpoint: Endpoint;
  private readonly url: string;
  private pending: Pending[] = [];
  private offline: { command: string; args: CommandArg[]; entry: Pending }[] = [];
  private readonly channels = new Set<string>();
  private readonly patterns = new Set<string>();
  private manuallyClosed = false;
  private subscriber = false;
  private wasReady = false;
  private attempts = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private lastError: Error | undefined;
  private readonly parser = new ReplyParser(
    (reply) => this.onReply(reply),
    () => this.pending[0]?.buffers === true,
  );

  constructor(url: string, options: RedisClientOptions = {}) {
    super();
    this.url = url;
    this.endpoint = parseUrl(url);
    this.options = { enableOfflineQueue: true, autoResubscribe: true, ...options };
    if (!this.options.lazyConnect) process.nextTick(() => this.connect().catch(() => undefined));
  }

  /** A new client to the same server with the same options, changed by `overrides`. */
  duplicate(overrides: RedisClientOptions = {}): RedisClient {
    return new RedisClient(this.url, { ...this.options, ...overrides });
  }

  /** Resolves once the connection is ready; rejects when this attempt fails (the client keeps
   * reconnecting by its retryStrategy unless `disconnect()` is called). */
  connect(): Promise<void> {
    if (this.status === 'ready') return Promise.resolve();
    this.manuallyClosed = false;
    const settled = new Promise<void>((resolve, reject) => {
      const onReady = () => {
        this.off('close', onClose);
        resolve();
      };
      const onClose = () => {
        this.off('ready', onReady);
        reject(this.lastError ?? new Error('Connection is closed.'));
      };
      this.once('ready', onReady);
      this.once('close', onClose);
    });
    // Not while an attempt is under way (ready returned above): 'wait', 'end', or a reconnect's delay.
    if (this.status !== 'connecting' && this.status !== 'connect') this.open();
    return settled;
  }

  /** Closes now, without reconnecting; what is in flight or queued fails. */
  disconnect(): void {
    this.manuallyClosed = true;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    if (this.stream) this.stream.destroy();
    else if (this.status !== 'end') this.setEnd();
  }

  /** QUIT: the server closes after answering what came before. */
  async quit(): Promise<string> {
    this.manuallyClosed = true;
    const reply = this.status === 'ready' ? await this.send('quit', []) : 'OK';
    this.disconnect();
    return String(reply);
  }

  private open(): void {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.status = 'connecting';
    const { host, port } = this.endpoint;
    const socket = this.endpoint.tls
      ? connectTls({ host, port, ...(isIP(host) ? {} : { servername: host }), ...(this.options.tls?.ca ? { ca: this.options.tls.ca } : {}) })
      : connectTcp({ host, port });
    this.stream = socket;
    socket.setNoDelay(true);
    coalesceWrites(socket);
    socket.once(this.endpoint.tls ? 'secureConnect' : 'connect', () => this.onConnect(socket));
    socket.on('data', (chunk: Buffer) => {
      try {
        this.parser.push(chunk);
      } catch (error) {
        this.fail(error as Error);
        socket.destroy();
      }
    });
    socket.on('error', (error: Error) => this.fail(error));
    socket.once('close', () => this.onClose(socket));
  }

  private onConnect(socket: Socket): void {
    if (this.stream !== socket) return;
    this.status = 'connect';
    this.emit('connect');
    this.handshake().then(
      () => {
        if (this.stream !== socket) return;
        this.status = 'ready';
        this.attempts = 0;
        this.lastError = undefined;
        // Only a reconnect has subscriptions to restore: on the first connection the offline
        // queue holds the SUBSCRIBEs themselves.
        const reconnected = this.wasReady;
        this.wasReady = true;
        this.emit('ready');
        this.flushOffline();
        if (reconnected && this.options.autoResubscribe !== false) this.resubscribe();
      },
      (error: Error) => {
        this.fail(error);
        socket.destroy();
      },
    );
  }

  /** AUTH, CLIENT SETNAME and SELECT, before anything else is sent. */
  private async handshake(): Promise<void> {
    const username = this.options.username ?? this.endpoint.username;
    const password = this.options.password ?? this.endpoint.password;
    const steps: Promise<unknown>[] = [];
    if (password !== undefined) steps.push(this.write('auth', username ? [username, password] : [password]));
    if (this.options.connectionName) steps.push(this.write('client', ['SETNAME', this.options.connectionName]));
    if (this.endpoint.db !== 0) steps.push(this.write('select', [this.endpoint.db]));
    await Promise.all(steps);
  }

  private resubscribe(): void {
    if (this.channels.size > 0) void this.write('subscribe', [...this.channels], this.channels.size).catch(() => undefined);
    if (this.patterns.size > 0) void this.write('psubscribe', [...this.patterns], this.patterns.size).catch(() => undefined);
  }

  private fail(error: Error): void {
    this.lastError = error;
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  private onClose(socket: Socket): void {
    if (this.stream !== socket) return;
    this.stream = undefined;
    this.parser.reset();
    const lost = this.pending;
    this.pending = [];
    const closed = new Error('Connection is closed.');
    for (const entry of lost) entry.reject(closed);
    this.status = 'close';
    this.emit('close');
    if (this.manuallyClosed) {
      this.setEnd();
      return;
    }
    this.attempts += 1;
    const delay = this.options.retryStrategy ? this.options.retryStrategy(this.attempts) : Math.min(this.attempts * 50, 2_000);
    if (typeof delay !== 'number') {
      this.setEnd();
      return;
    }
    this.status = 'reconnecting';
    this.emit('reconnecting', delay);
    this.reconnectTimer = setTimeout(() => this.open(), delay);
  }

  private setEnd(): void {
    this.status = 'end';
    const queued = this.offline;
    this.offline = [];
    const closed = new Error('Connection is closed.');
    for (const { entry } of queued) entry.reject(closed);
    this.emit('end');
  }

  private flushOffline(): void {
    const queued = this.offline;
    this.offline = [];
    for (const { command, args, entry } of queued) this.writeEntry(command, args, entry);
  }

  private onReply(reply: Reply): void {
    if (this.subscriber && Array.isArray(reply) && this.isPush(reply)) return;
    const entry = this.pending[0];
    if (!entry) return;
    if (entry.replies !== undefined && entry.replies > 1 && !(reply instanceof ReplyError)) {
      entry.replies -= 1;
      return;
    }
    this.pending.shift();
    if (reply instanceof ReplyError) entry.reject(reply);
    else entry.resolve(Array.isArray(reply) && PUBSUB_REPLIES.has(entry.command) ? reply[2] : shape(entry.command, reply));
  }

  /** Messages of the subscriptions; SUBSCRIBE's own confirmations go to its pending entry. */
  private isPush(reply: Reply[]): boolean {
    const kind = reply[0];
    if (kind === 'message' && reply.length === 3) {
      this.emit('message', reply[1], reply[2]);
      return true;
    }
    if (kind === 'pmessage' && reply.length === 4) {
      this.emit('pmessage', reply[1], reply[2], reply[3]);
      return true;
    }
    return false;
  }

  private write(command: string, args: CommandArg[], replies?: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.writeEntry(command, args, { command, resolve, reject, ...(replies !== undefined ? { replies } : {}) });
    });
  }

  private writeEntry(command: string, args: CommandArg[], entry: Pending): void {
    const socket = this.stream;
    if (!socket || !socket.writable) {
      entry.reject(new Error('Connection is closed.'));
      return;
    }
    this.pending.push(entry);
    socket.write(encodeCommand([command, ...args]));
  }

  /** Sends a command (keys prefixed), waiting for a ready connection when the offline queue is
   * on; its reply shaped as ioredis shapes it. */
  send(command: string, args: CommandArg[], replies?: number, buffers?: boolean): Promise<unknown> {
    const prefixed = withPrefix(this.options.keyPrefix ?? '', command, args);
    // A lazy client connects on its first command.
    if (this.status === 'wait') this.connect().catch(() => undefined);
    return new Promise((resolve, reject) => {
      const entry: Pending = { command, resolve, reject, ...(replies !== undefined ? { replies } : {}), ...(buffers ? { buffers } : {}) };
      if (this.status === 'ready') {
        this.writeEntry(command, prefixed, entry);
      } else if (this.options.enableOfflineQueue && this.status !== 'end') {
        this.offline.push({ command, args: prefixed, entry });
      } else {
        reject(new Error("Stream isn't writeable and enableOfflineQueue options is false"));
      }
    });
  }

  /** Any command by name (what the typed methods below do not cover): its keys get the prefix
   * when the command is in the table of key positions, otherwise it is sent as it is. */
  call(command: string, ...args: CommandArg[]): Promise<unknown> {
    return this.send(command.toLowerCase(), args);
  }

  /** Registers a Lua script as a method `name(...keys, ...args)`. The script goes by its SHA1
   * (EVALSHA) once the server has told this client what that is: the first call sends the text
   * (EVAL) with a SCRIPT LOAD beside it, whose answer is the SHA1. A server that has forgotten the
   * script (a restart, SCRIPT FLUSH) answers NOSCRIPT, and the text goes again. The client does no
   * hashing of its own, so node:crypto stays out of a process's start (shared/lazy-crypto.ts). */
  defineCommand(name: string, definition: { numberOfKeys: number; lua: string }): void {
    let sha: string | undefined;
    let asking = false;
    const askForSha = () => {
      if (asking) return;
      asking = true;
      this.send('script', ['load', definition.lua]).then(
        (reply) => {
          sha = String(reply);
          asking = false;
        },
        // Asked again with the next call.
        () => {
          asking = false;
        },
      );
    };
    const sendText = (args: CommandArg[]) => this.send('eval', [definition.lua, definition.numberOfKeys, ...args]);
    const run = async (...args: CommandArg[]) => {
      if (sha === undefined) {
        askForSha();
        return sendText(args);
      }
      try {
        return await this.send('evalsha', [sha, definition.numberOfKeys, ...args]);
      } catch (error) {
        if (!(error instanceof ReplyError) || !error.message.startsWith('NOSCRIPT')) throw error;
        return sendText(args);
      }
    };
    Object.defineProperty(this, name, { value: run, configurable: true });
  }

  // The commands this project sends, typed as ioredis types them.
  get(key: string): Promise<string | null> {
    return this.send('get', [key]) as Promise<string | null>;
  }
  /** SET key value [EX s | PX ms] [NX | XX]: 'OK', or null when NX/XX refused. */
  set(key: string, value: CommandArg, ...options: Str[]): Promise<'OK' | null> {
    return this.send('set', [key, value, ...options]) as Promise<'OK' | null>;
  }
  del(...keys: string[]): Promise<number> {
    return this.send('del', keys) as Promise<number>;
  }
  exists(...keys: string[]): Promise<number> {
    return this.send('exists', keys) as Promise<number>;
  }
  expire(key: string, seconds: Str): Promise<number> {
    return this.send('expire', [key, seconds]) as Promise<number>;
  }
  pexpire(key: string, ms: Str): Promise<number> {
    return this.send('pexpire', [key, ms]) as Promise<number>;
  }
  ttl(key: string): Promise<number> {
    return this.send('ttl', [key]) as Promise<number>;
  }
  pttl(key: string): Promise<number> {
    return this.send('pttl', [key]) as Promise<number>;
  }
  incr(key: string): Promise<number> {
    return this.send('incr', [key]) as Promise<number>;
  }
  type(key: string): Promise<string> {
    return this.send('type', [key]) as Promise<string>;
  }
  hget(key: string, field: string): Promise<string | null> {
    return this.send('hget', [key, field]) as Promise<string | null>;
  }
  /** Every field of a hash; an empty object when there is no such key. */
  hgetall(key: string): Promise<Record<string, string>> {
    return this.send('hgetall', [key]) as Promise<Record<string, string>>;
  }
  hmget(key: string, ...fields: string[]): Promise<(string | null)[]> {
    return this.send('hmget', [key, ...fields]) as Promise<(string | null)[]>;
  }
  hset(key: string, ...fieldsAndValues: CommandArg[]): Promise<number> {
    return this.send('hset', [key, ...fieldsAndValues]) as Promise<number>;
  }
  hlen(key: string): Promise<number> {
    return this.send('hlen', [key]) as Promise<number>;
  }
  zscore(key: string, member: string): Promise<string | null> {
    return this.send('zscore', [key, member]) as Promise<string | null>;
  }
  zadd(key: string, ...args: Str[]): Promise<number> {
    return this.send('zadd', [key, ...args]) as Promise<number>;
  }
  zrem(key: string, ...members: string[]): Promise<number> {
    return this.send('zrem', [key, ...members]) as Promise<number>;
  }
  zcard(key: string): Promise<number> {
    return this.send('zcard', [key]) as Promise<number>;
  }
  zrange(key: string, ...args: Str[]): Promise<string[]> {
    return this.send('zrange', [key, ...args]) as Promise<string[]>;
  }
  zrangebyscore(key: string, ...args: Str[]): Promise<string[]> {
    return this.send('zrangebyscore', [key, ...args]) as Promise<string[]>;
  }
  zrevrangebyscore(key: string, ...args: Str[]): Promise<string[]> {
    return this.send('zrevrangebyscore', [key, ...args]) as Promise<string[]>;
  }
  lrange(key: string, start: Str, stop: Str): Promise<string[]> {
    return this.send('lrange', [key, start, stop]) as Promise<string[]>;
  }
  llen(key: string): Promise<number> {
    return this.send('llen', [key]) as Promise<number>;
  }
  lpush(key: string, ...values: CommandArg[]): Promise<number> {
    return this.send('lpush', [key, ...values]) as Promise<number>;
  }
  rpush(key: string, ...values: CommandArg[]): Promise<number> {
    return this.send('rpush', [key, ...values]) as Promise<number>;
  }
  mget(...keys: string[]): Promise<(string | null)[]> {
    return this.send('mget', keys) as Promise<(string | null)[]>;
  }
  /** KEYS pattern: the pattern is sent as it is (no key prefix), like SCAN's. */
  keys(pattern: string): Promise<string[]> {
    return this.send('keys', [pattern]) as Promise<string[]>;
  }
  dbsize(): Promise<number> {
    return this.send('dbsize', []) as Promise<number>;
  }
  publish(channel: string, message: string): Promise<number> {
    return this.send('publish', [channel, message]) as Promise<number>;
  }
  pubsub(subcommand: string, ...args: Str[]): Promise<unknown> {
    return this.send('pubsub', [subcommand, ...args]);
  }
  client(subcommand: string, ...args: Str[]): Promise<unknown> {
    return this.send('client', [subcommand, ...args]);
  }
  eval(script: string, numberOfKeys: number, ...args: CommandArg[]): Promise<unknown> {
    return this.send('eval', [script, numberOfKeys, ...args]);
  }
  ping(): Promise<string> {
    return this.send('ping', []) as Promise<string>;
  }
  /** SCAN cursor [MATCH pattern] [COUNT n]: the next cursor and a batch of keys, as stored (the
   * pattern gets no prefix). */
  scan(cursor: Str, ...args: Str[]): Promise<[string, string[]]> {
    return this.send('scan', [cursor, ...args]) as Promise<[string, string[]]>;
  }
  /** DUMP key, as bytes (the serialization is binary). */
  dumpBuffer(key: string): Promise<Buffer | null> {
    return this.send('dump', [key], undefined, true) as Promise<Buffer | null>;
  }
  info(section?: string): Promise<string> {
    return this.send('info', section === undefined ? [] : [section]) as Promise<string>;
  }
  config(subcommand: string, ...args: Str[]): Promise<unknown> {
    return this.send('config', [subcommand, ...args]);
  }

  /** Commands sent together, each with its own outcome: exec() gives [error, reply] per command. */
  pipeline(commands: readonly (readonly [string, ...CommandArg[]])[] = []): Pipeline {
    const pipeline = new Pipeline(this, false);
    for (const [command, ...args] of commands) pipeline.add(command.toLowerCase(), args);
    return pipeline;
  }

  /** MULTI … EXEC: the commands run as one transaction; exec() gives [error, reply] per command. */
  multi(): Pipeline {
    return new Pipeline(this, true);
  }

  /** MULTI, the commands, EXEC, written together (Pipeline.exec of a transaction): each command's
   * reply or error, or null when a WATCH aborted it. */
  async transaction(queued: readonly { command: string; args: CommandArg[] }[]): Promise<[Error | null, unknown][] | null> {
    const steps = [this.send('multi', []), ...queued.map(({ command, args }) => this.send(command, args))];
    const exec = this.send('exec', []);
    const queuing = await Promise.allSettled(steps);
    let replies: unknown;
    try {
      replies = await exec;
    } catch (error) {
      // EXECABORT: the command the server refused to queue says why.
      const refused = queuing.find((step) => step.status === 'rejected');
      throw refused ? (refused as PromiseRejectedResult).reason : error;
    }
    if (replies === null) return null;
    return (replies as Reply[]).map((reply, index) =>
      reply instanceof ReplyError ? [reply, null] : [null, shape(queued[index]!.command, reply)],
    );
  }

  // Subscriptions: remembered, so that a reconnect can subscribe again. A connection that has
  // subscribed is a subscriber for good (RESP2 allows it nothing else), so its 'message' and
  // 'pmessage' replies are pushes, never answers.
  subscribe(...channels: string[]): Promise<number> {
    this.subscriber = true;
    for (const channel of channels) this.channels.add(channel);
    return this.send('subscribe', channels, channels.length) as Promise<number>;
  }

  psubscribe(...patterns: string[]): Promise<number> {
    this.subscriber = true;
    for (const pattern of patterns) this.patterns.add(pattern);
    return this.send('psubscribe', patterns, patterns.length) as Promise<number>;
  }

  unsubscribe(...channels: string[]): Promise<number> {
    const names = channels.length > 0 ? channels : [...this.channels];
    for (const channel of names) this.channels.delete(channel);
    return this.send('unsubscribe', channels, Math.max(1, names.length)) as Promise<number>;
  }

  punsubscribe(...patterns: string[]): Promise<number> {
    const names = patterns.length > 0 ? patterns : [...this.patterns];
    for (const pattern of names) this.patterns.delete(pattern);
    return this.send('punsubscribe', patterns, Math.max(1, names.length)) as Promise<number>;
  }
}

/** The commands of a pipeline or transaction, chained: `redis.pipeline().zcard(a).get(b).exec()`. */
export class Pipeline {
  private readonly queued: { command: string; args: CommandArg[] }[] = [];

  constructor(
    private readonly client: RedisClient,
    private readonly transaction: boolean,
  ) {}

  add(command: string, args: CommandArg[]): this {
    this.queued.push({ command, args });
    return this;
  }

  get(key: string): this {
    return this.add('get', [key]);
  }
  hget(key: string, field: string): this {
    return this.add('hget', [key, field]);
  }
  hset(key: string, ...fieldsAndValues: CommandArg[]): this {
    return this.add('hset', [key, ...fieldsAndValues]);
  }
  set(key: string, value: CommandArg, ...options: Str[]): this {
    return this.add('set', [key, value, ...options]);
  }
  del(...keys: string[]): this {
    return this.add('del', keys);
  }
  incr(key: string): this {
    return this.add('incr', [key]);
  }
  pexpire(key: string, ms: Str): this {
    return this.add('pexpire', [key, ms]);
  }
  hgetall(key: string): this {
    return this.add('hgetall', [key]);
  }
  zadd(key: string, ...args: Str[]): this {
    return this.add('zadd', [key, ...args]);
  }
  zrem(key: string, ...members: string[]): this {
    return this.add('zrem', [key, ...members]);
  }
  zcard(key: string): this {
    return this.add('zcard', [key]);
  }

  /** Sends every command at once. Each reply or error in order; a transaction the server aborted
   * (EXECABORT: a command it refused to queue) rejects as a whole. */
  async exec(): Promise<[Error | null, unknown][] | null> {
    if (this.transaction) return this.client.transaction(this.queued);
    return Promise.all(
      this.queued.map(({ command, args }) =>
        this.client.send(command, args).then(
          (reply): [Error | null, unknown] => [null, reply],
          (error: Error): [Error | null, unknown] => [error, null],
        ),
      ),
    );
  }
}
