// Config parsing: pure functions over an environment object. `createEnvReader` collects every
// problem so that a misconfigured process reports all of them at once, then `finish` throws a
// single ConfigError. Only entry files pass `process.env` in.
import { isIP } from 'node:net';
import { ConfigError } from './errors';
import { LOG_LEVEL_NAMES } from './logger';
import { DEFAULT_FLOW_SETTINGS, DEFAULT_RETENTION_SECONDS, type FlowSettings } from './contract';
import { isPlaceholderSecret, toPlaceholderProblem } from './placeholder-secret';
import { Secret } from './secret';

export type Env = Readonly<Record<string, string | undefined>>;

export type EnvReader = {
  string(name: string, fallback?: string): string;
  int(name: string, fallback: number, range?: { min?: number; max?: number }): number;
  number(name: string, fallback: number, range?: { min?: number; max?: number }): number;
  intList(name: string, fallback: readonly number[]): number[];
  bool(name: string, fallback: boolean): boolean;
  url(name: string, fallback?: string): string;
  /** Record a problem found by the caller. */
  problem(message: string): void;
  /** Throws ConfigError with every problem found so far. */
  finish(): void;
};

export function createEnvReader(env: Env): EnvReader {
  const problems: string[] = [];

  const raw = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };

  const checkRange = (name: string, value: number, range?: { min?: number; max?: number }) => {
    if (range?.min !== undefined && value < range.min) problems.push(`${name} must be >= ${range.min}, got ${value}`);
    if (range?.max !== undefined && value > range.max) problems.push(`${name} must be <= ${range.max}, got ${value}`);
  };

  const reader: EnvReader = {
    string(name, fallback) {
      const value = raw(name);
      if (value !== undefined) return value;
      if (fallback === undefined) {
        problems.push(`${name} is required`);
        return '';
      }
      return fallback;
    },
    int(name, fallback, range) {
      const value = raw(name);
      if (value === undefined) return fallback;
      if (!/^-?\d+$/.test(value)) {
        problems.push(`${name} must be an integer, got "${value}"`);
        return fallback;
      }
      const parsed = Number(value);
      checkRange(name, parsed, range);
      return parsed;
    },
    number(name, fallback, range) {
      const value = raw(name);
      if (value === undefined) return fallback;
      const parsed = Number(value);
      if (!Number.isFinite(parsed)) {
        problems.push(`${name} must be a number, got "${value}"`);
        return fallback;
      }
      checkRange(name, parsed, range);
      return parsed;
    },
    intList(name, fallback) {
      const value = raw(name);
      if (value === undefined) return [...fallback];
      const parts = value.split(',').map((part) => part.trim());
      if (parts.some((part) => !/^\d+$/.test(part))) {
        problems.push(`${name} must be a comma-separated list of non-negative integers, got "${value}"`);
        return [...fallback];
      }
      return parts.map(Number);
    },
    bool(name, fallback) {
      const value = raw(name);
      if (value === undefined) return fallback;
      if (['1', 'true', 'yes', 'on'].includes(value.toLowerCase())) return true;
      if (['0', 'false', 'no', 'off'].includes(value.toLowerCase())) return false;
      problems.push(`${name} must be true or false, got "${value}"`);
      return fallback;
    },
    url(name, fallback) {
      const value = reader.string(name, fallback);
      if (value === '') return value;
      try {
        new URL(value);
      } catch {
        problems.push(`${name} must be a URL, got "${value}"`);
      }
      return value;
    },
    problem(message) {
      problems.push(message);
    },
    finish() {
      if (problems.length > 0) throw new ConfigError(problems);
    },
  };
  return reader;
}

/** The flow settings of docs/design.md §4, each overridable by environment (tests scale retries down). */
export function readFlowSettings(reader: EnvReader): FlowSettings {
  const defaults = DEFAULT_FLOW_SETTINGS;
  const retryDelaysMs = reader.intList('TM_RETRY_DELAYS_MS', defaults.retryDelaysMs);
  if (retryDelaysMs.length === 0) reader.problem('TM_RETRY_DELAYS_MS must list at least one delay');
  return Object.freeze({
    retryDelaysMs: Object.freeze(retryDelaysMs),
    ackWaitMs: reader.int('TM_ACK_WAIT_MS', defaults.ackWaitMs, { min: 1_000 }),
    maxDeliver: reader.int('TM_MAX_DELIVER', defaults.maxDeliver, { min: 1, max: 100 }),
    maxAgeMs: reader.int('TM_STREAM_MAX_AGE_MS', defaults.maxAgeMs, { min: 1_000 }),
    maxMsgs: reader.int('TM_STREAM_MAX_MSGS', defaults.maxMsgs, { min: 1 }),
    maxBytes: reader.int('TM_STREAM_MAX_BYTES', defaults.maxBytes, { min: 1024 }),
    duplicateWindowMs: reader.int('TM_DUPLICATE_WINDOW_MS', defaults.duplicateWindowMs, { min: 1_000 }),
  });
}

/** LOG_LEVEL: a level of shared/logger.ts, or `silent`; an unknown one is a problem like any other
 * bad setting, reported with them before anything starts. */
export function readLogLevel(reader: EnvReader): string {
  const level = reader.string('LOG_LEVEL', 'info');
  if (!LOG_LEVEL_NAMES.includes(level)) reader.problem(`LOG_LEVEL must be one of ${LOG_LEVEL_NAMES.join(', ')}, got "${level}"`);
  return level;
}

/** Where a process listens when HOST is not set: this machine only (`npm start`). */
export const DEFAULT_LISTEN_HOST = '127.0.0.1';

/**
 * The address every listener of a process binds (HOST): loopback by default, so a developer's
 * stack is not reachable from the network; the image sets HOST=0.0.0.0, as a container must
 * answer on its pod or container address.
 */
export function readListenHost(reader: EnvReader): string {
  const host = reader.string('HOST', DEFAULT_LISTEN_HOST);
  if (isIP(host) === 0 && !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host)) {
    reader.problem(`HOST must be an IP address or a host name (e.g. 127.0.0.1, 0.0.0.0, ::), got "${host}"`);
  }
  return host;
}

/** A certificate or key file named by an environment variable (read when connecting, so that a
 * read error can name the variable). */
export type TlsFile = Readonly<{ variable: string; path: string }>;

export type NatsAuth =
  | Readonly<{ kind: 'none' }>
  | Readonly<{ kind: 'user'; user: string; password: Secret }>
  | Readonly<{ kind: 'token'; token: Secret }>;

export type NatsSettings = Readonly<{
  /** One or more comma-separated server URLs, never with credentials in them. */
  url: string;
  auth: NatsAuth;
  /** Set when any NATS_TLS_* file is given; a tls:// URL alone uses the system CAs. */
  tls: Readonly<{ ca?: TlsFile; cert?: TlsFile; key?: TlsFile }> | undefined;
}>;

export type RedisSettings = Readonly<{
  /** The URL without its credentials (safe to log); redis:// or rediss:// (TLS). */
  url: string;
  username: string | undefined;
  password: Secret | undefined;
  tls: Readonly<{ ca?: TlsFile }> | undefined;
  /** TM_REDIS_PREFIX: starts every key and pub/sub channel name (default `tm:`). */
  keyPrefix: string;
}>;

export type ConnectionSettings = Readonly<{
  /** = nats.url */
  natsUrl: string;
  /** = redis.url: without credentials. */
  redisUrl: string;
  nats: NatsSettings;
  redis: RedisSettings;
}>;

function optionalFile(reader: EnvReader, variable: string): TlsFile | undefined {
  const path = reader.string(variable, '');
  return path === '' ? undefined : { variable, path };
}

/** The NATS server(s) and how to authenticate: NATS_USER + NATS_PASSWORD, or NATS_TOKEN. */
export function readNatsSettings(reader: EnvReader): NatsSettings {
  const url = reader.string('NATS_URL', 'nats://127.0.0.1:4222');
  // Credentials belong in their own variables: URLs end up in logs and process listings.
  if (url.split(',').some((server) => server.includes('@'))) {
    reader.problem('NATS_URL must not carry credentials (the value is not shown): set NATS_USER and NATS_PASSWORD, or NATS_TOKEN');
  }
  const user = reader.string('NATS_USER', '');
  const password = reader.string('NATS_PASSWORD', '');
  const token = reader.string('NATS_TOKEN', '');
  if (user !== '' && !/^[A-Za-z0-9_-]+$/.test(user)) {
    // The user names the connection's reply subjects (_INBOX.<user>.*): no dots or wildcards.
    reader.problem(`NATS_USER may hold letters, digits, "_" and "-" only, got "${user}"`);
  }
  if (user !== '' && password === '') reader.problem('NATS_PASSWORD is required when NATS_USER is set');
  if (user === '' && password !== '') reader.problem('NATS_USER is required when NATS_PASSWORD is set');
  if (token !== '' && (user !== '' || password !== '')) {
    reader.problem('set either NATS_USER and NATS_PASSWORD or NATS_TOKEN, not both');
  }
  if (isPlaceholderSecret(password)) reader.problem(toPlaceholderProblem('NATS_PASSWORD'));
  if (isPlaceholderSecret(token)) reader.problem(toPlaceholderProblem('NATS_TOKEN', 'token'));
  const auth: NatsAuth =
    token !== '' ? { kind: 'token', token: new Secret(token) }
    : user !== '' ? { kind: 'user', user, password: new Secret(password) }
    : { kind: 'none' };

  const ca = optionalFile(reader, 'NATS_TLS_CA_FILE');
  const cert = optionalFile(reader, 'NATS_TLS_CERT_FILE');
  const key = optionalFile(reader, 'NATS_TLS_KEY_FILE');
  if ((cert === undefined) !== (key === undefined)) {
    reader.problem('NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE go together (a client certificate needs its key)');
  }
  const tls = ca || cert || key ? { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) } : undefined;
  return Object.freeze({ url, auth, tls });
}

/** What every key and pub/sub channel name starts with unless TM_REDIS_PREFIX says otherwise. */
export const DEFAULT_REDIS_KEY_PREFIX = 'tm:';
export const MAX_REDIS_KEY_PREFIX_LENGTH = 64;
const REDIS_KEY_PREFIX_PATTERN = /^[A-Za-z0-9_.:-]+$/;

/**
 * TM_REDIS_PREFIX, the namespace of the system in a Redis it may share with an application.
 * Unset or empty means the default `tm:` (as for every variable here: there is no unprefixed
 * mode). Letters, digits and `_ - . :` only: no whitespace or control characters, and no glob
 * characters (`* ? [ ] \`), so `SCAN MATCH <prefix>*` and `PUBSUB CHANNELS <prefix>*` match
 * exactly the system's names.
 */
export function readRedisKeyPrefix(reader: EnvReader): string {
  const prefix = reader.string('TM_REDIS_PREFIX', DEFAULT_REDIS_KEY_PREFIX);
  if (!REDIS_KEY_PREFIX_PATTERN.test(prefix)) {
    reader.problem(`TM_REDIS_PREFIX may hold letters, digits, "_", "-", "." and ":" only, got ${JSON.stringify(prefix)}`);
    return DEFAULT_REDIS_KEY_PREFIX;
  }
  if (prefix.length > MAX_REDIS_KEY_PREFIX_LENGTH) {
    reader.problem(`TM_REDIS_PREFIX must be at most ${MAX_REDIS_KEY_PREFIX_LENGTH} characters, got ${prefix.length}`);
    return DEFAULT_REDIS_KEY_PREFIX;
  }
  return prefix;
}

/**
 * The Redis server and its credentials: in REDIS_URL (redis://user:pass@host:port, rediss:// for
 * TLS) or in REDIS_USERNAME / REDIS_PASSWORD. The returned URL has the credentials removed.
 */
export function readRedisSettings(reader: EnvReader): RedisSettings {
  const fallback = 'redis://127.0.0.1:6379';
  const text = reader.string('REDIS_URL', fallback);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    const shown = text.includes('@') ? '(the value is not shown: it may hold a password)' : `got "${text}"`;
    reader.problem(`REDIS_URL must be a URL, ${shown}`);
    url = new URL(fallback);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    reader.problem(`REDIS_URL must start with redis:// or rediss:// (TLS), got "${url.protocol}//"`);
  }
  const decode = (value: string) => {
    try {
      return decodeURIComponent(value);
    } catch {
      reader.problem('REDIS_URL has a badly percent-encoded user or password');
      return value;
    }
  };
  const urlUser = decode(url.username);
  const urlPassword = decode(url.password);
  url.username = '';
  url.password = '';

  const envUser = reader.string('REDIS_USERNAME', '');
  const envPassword = reader.string('REDIS_PASSWORD', '');
  if (urlPassword !== '' && envPassword !== '') {
    reader.problem('REDIS_PASSWORD is set and REDIS_URL carries a password too: set it in one place');
  }
  if (urlUser !== '' && envUser !== '') {
    reader.problem('REDIS_USERNAME is set and REDIS_URL names a user too: set it in one place');
  }
  const username = envUser || urlUser;
  const password = envPassword || urlPassword;
  if (isPlaceholderSecret(password)) reader.problem(toPlaceholderProblem(envPassword ? 'REDIS_PASSWORD' : 'REDIS_URL'));
  if (username !== '' && password === '') {
    reader.problem('a Redis user (REDIS_USERNAME or the user in REDIS_URL) needs a password (REDIS_PASSWORD or in REDIS_URL)');
  }

  const ca = optionalFile(reader, 'REDIS_TLS_CA_FILE');
  if (ca && url.protocol !== 'rediss:') reader.problem('REDIS_TLS_CA_FILE is set but REDIS_URL does not use rediss:// (TLS)');
  return Object.freeze({
    url: url.toString(),
    username: username === '' ? undefined : username,
    password: password === '' ? undefined : new Secret(password),
    tls: ca ? { ca } : undefined,
    keyPrefix: readRedisKeyPrefix(reader),
  });
}

export function readConnectionSettings(reader: EnvReader): ConnectionSettings {
  const nats = readNatsSettings(reader);
  const redis = readRedisSettings(reader);
  return Object.freeze({ natsUrl: nats.url, redisUrl: redis.url, nats, redis });
}

/** TM_RETENTION_SECONDS: how long a finished task's record, status, history and result are kept. */
export function readRetentionSeconds(reader: EnvReader): number {
  return reader.int('TM_RETENTION_SECONDS', DEFAULT_RETENTION_SECONDS, { min: 1, max: 10 * 365 * 24 * 60 * 60 });
}
