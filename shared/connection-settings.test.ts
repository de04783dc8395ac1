// NATS and Redis credentials and TLS from the environment: what is read, what is refused (each
// problem naming its variable), and that no secret reaches a message or a log line.
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createEnvReader, MAX_REDIS_KEY_PREFIX_LENGTH, readConnectionSettings, readNatsSettings, readRedisSettings, type Env } from './config';
import { ConfigError } from './errors';
import { createLogger } from './logger';
import { toInboxPrefix, toNatsAuthOptions } from './nats';
import { toRedisAuthOptions } from './redis';
import { Secret, toRedactedUrl } from './secret';
import { readTlsFile } from './tls-files';

const SECRET = 's3cret-Pa55word';

function read<T>(env: Env, readWith: (reader: ReturnType<typeof createEnvReader>) => T): T {
  const reader = createEnvReader(env);
  const value = readWith(reader);
  reader.finish();
  return value;
}

function problemsOf(env: Env, readWith: (reader: ReturnType<typeof createEnvReader>) => unknown): readonly string[] {
  try {
    read(env, readWith);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('readNatsSettings', () => {
  it('reads NATS_USER + NATS_PASSWORD, or NATS_TOKEN, with the password kept as a Secret', () => {
    const user = read({ NATS_URL: 'nats://a:4222,nats://b:4222', NATS_USER: 'worker', NATS_PASSWORD: SECRET }, readNatsSettings);
    expect(user.url).toBe('nats://a:4222,nats://b:4222');
    expect(user.auth).toMatchObject({ kind: 'user', user: 'worker' });
    expect(user.auth.kind === 'user' && user.auth.password.reveal()).toBe(SECRET);
    const token = read({ NATS_TOKEN: SECRET }, readNatsSettings);
    expect(token.auth.kind === 'token' && token.auth.token.reveal()).toBe(SECRET);
    expect(read({}, readNatsSettings).auth).toEqual({ kind: 'none' });
  });

  it('reads the TLS files, remembering which variable named each', () => {
    const settings = read({ NATS_TLS_CA_FILE: '/ca.pem', NATS_TLS_CERT_FILE: '/c.pem', NATS_TLS_KEY_FILE: '/k.pem' }, readNatsSettings);
    expect(settings.tls).toEqual({
      ca: { variable: 'NATS_TLS_CA_FILE', path: '/ca.pem' },
      cert: { variable: 'NATS_TLS_CERT_FILE', path: '/c.pem' },
      key: { variable: 'NATS_TLS_KEY_FILE', path: '/k.pem' },
    });
  });

  it('refuses incomplete or conflicting credentials, naming the variables and never the secret', () => {
    expect(problemsOf({ NATS_USER: 'worker' }, readNatsSettings)).toEqual(['NATS_PASSWORD is required when NATS_USER is set']);
    expect(problemsOf({ NATS_PASSWORD: SECRET }, readNatsSettings)).toEqual(['NATS_USER is required when NATS_PASSWORD is set']);
    expect(problemsOf({ NATS_USER: 'w', NATS_PASSWORD: SECRET, NATS_TOKEN: SECRET }, readNatsSettings)).toEqual([
      'set either NATS_USER and NATS_PASSWORD or NATS_TOKEN, not both',
    ]);
    expect(problemsOf({ NATS_TLS_CERT_FILE: '/c.pem' }, readNatsSettings)[0]).toMatch(/NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE go together/);
    expect(problemsOf({ NATS_USER: 'a.b', NATS_PASSWORD: SECRET }, readNatsSettings)).toEqual([
      'NATS_USER may hold letters, digits, "_" and "-" only, got "a.b"',
    ]);
    const inUrl = problemsOf({ NATS_URL: `nats://worker:${SECRET}@n:4222` }, readNatsSettings);
    expect(inUrl[0]).toMatch(/^NATS_URL must not carry credentials/);
    expect(inUrl.join('\n')).not.toContain(SECRET);
  });
});

describe('readRedisSettings', () => {
  it('takes user and password out of REDIS_URL, leaving a URL that is safe to log', () => {
    const settings = read({ REDIS_URL: `rediss://gateway:${encodeURIComponent('p@ss:word')}@redis.internal:6380/0` }, readRedisSettings);
    expect(settings.url).toBe('rediss://redis.internal:6380/0');
    expect(settings.username).toBe('gateway');
    expect(settings.password?.reveal()).toBe('p@ss:word');
    const passwordOnly = read({ REDIS_URL: `redis://:${SECRET}@r:6379` }, readRedisSettings);
    expect(passwordOnly).toMatchObject({ url: 'redis://r:6379', username: undefined });
    expect(passwordOnly.password?.reveal()).toBe(SECRET);
  });

  it('reads REDIS_USERNAME / REDIS_PASSWORD and REDIS_TLS_CA_FILE with rediss://', () => {
    const settings = read(
      { REDIS_URL: 'rediss://r:6380', REDIS_USERNAME: 'worker', REDIS_PASSWORD: SECRET, REDIS_TLS_CA_FILE: '/ca.pem' },
      readRedisSettings,
    );
    expect(settings).toMatchObject({ url: 'rediss://r:6380', username: 'worker', tls: { ca: { variable: 'REDIS_TLS_CA_FILE', path: '/ca.pem' } } });
    expect(settings.password?.reveal()).toBe(SECRET);
  });

  it('refuses conflicting, incomplete or insecure settings, naming the variables and never the secret', () => {
    const problems = (env: Env) => problemsOf(env, readRedisSettings);
    expect(problems({ REDIS_URL: `redis://:${SECRET}@r:6379`, REDIS_PASSWORD: SECRET })).toEqual([
      'REDIS_PASSWORD is set and REDIS_URL carries a password too: set it in one place',
    ]);
    expect(problems({ REDIS_USERNAME: 'worker' })[0]).toMatch(/needs a password \(REDIS_PASSWORD or in REDIS_URL\)/);
    expect(problems({ REDIS_TLS_CA_FILE: '/ca.pem' })).toEqual(['REDIS_TLS_CA_FILE is set but REDIS_URL does not use rediss:// (TLS)']);
    expect(problems({ REDIS_URL: 'http://r:6379' })).toEqual(['REDIS_URL must start with redis:// or rediss:// (TLS), got "http://"']);
    expect(problems({ REDIS_URL: 'not a url' })).toEqual(['REDIS_URL must be a URL, got "not a url"']);
    const broken = problems({ REDIS_URL: `redis//user:${SECRET}@r` });
    expect(broken).toEqual(['REDIS_URL must be a URL, (the value is not shown: it may hold a password)']);
  });
});

describe('TM_REDIS_PREFIX', () => {
  it('defaults to tm: when unset or blank, and takes a custom prefix (trimmed)', () => {
    expect(read({}, readRedisSettings).keyPrefix).toBe('tm:');
    expect(read({ TM_REDIS_PREFIX: '  ' }, readRedisSettings).keyPrefix).toBe('tm:');
    expect(read({ TM_REDIS_PREFIX: 'app1:' }, readRedisSettings).keyPrefix).toBe('app1:');
    expect(read({ TM_REDIS_PREFIX: ' prod.task-manager_2: ' }, readRedisSettings).keyPrefix).toBe('prod.task-manager_2:');
    expect(read({ TM_REDIS_PREFIX: 'x'.repeat(MAX_REDIS_KEY_PREFIX_LENGTH) }, readConnectionSettings).redis.keyPrefix).toHaveLength(64);
  });

  it('refuses whitespace, control and glob characters and an overlong prefix, naming the variable', () => {
    const problems = (value: string) => problemsOf({ TM_REDIS_PREFIX: value }, readRedisSettings);
    const allowed = 'TM_REDIS_PREFIX may hold letters, digits, "_", "-", "." and ":" only';
    expect(problems('my app:')).toEqual([`${allowed}, got "my app:"`]);
    expect(problems('tm\n:')).toEqual([`${allowed}, got "tm\\n:"`]);
    expect(problems('a\u0007b')).toEqual([`${allowed}, got "a\\u0007b"`]);
    for (const glob of ['tm*', 'tm?', 'tm[1]', 'tm\\:']) expect(problems(glob)[0]).toMatch(/^TM_REDIS_PREFIX may hold/);
    expect(problems('x'.repeat(65))).toEqual(['TM_REDIS_PREFIX must be at most 64 characters, got 65']);
  });
});

describe('secrets stay out of logs', () => {
  it('a logged connection config shows neither the NATS nor the Redis password', () => {
    const settings = read(
      { NATS_USER: 'gateway', NATS_PASSWORD: SECRET, REDIS_URL: `redis://gateway:${SECRET}@r:6379` },
      readConnectionSettings,
    );
    const lines: string[] = [];
    const logger = createLogger('gateway', 'info', { write: (line) => lines.push(line) });
    logger.info({ settings }, 'connecting');
    expect(lines.join('')).toContain('gateway');
    expect(lines.join('')).not.toContain(SECRET);
    expect(inspect(settings, { depth: 10 })).not.toContain(SECRET);
    expect(JSON.stringify(settings)).not.toContain(SECRET);
    expect(String(new Secret(SECRET))).toBe('[redacted]');
  });

  it('redacts the password of a URL for messages', () => {
    expect(toRedactedUrl(`redis://u:${SECRET}@h:1`)).toBe('redis://u:REDACTED@h:1');
    expect(toRedactedUrl('redis://h:1')).toBe('redis://h:1');
    expect(toRedactedUrl(`junk u:${SECRET}@h`)).toBe('[redacted]@h');
  });
});

describe('client options', () => {
  const files: Record<string, string> = { '/ca.pem': 'CA', '/c.pem': 'CERT', '/k.pem': 'KEY' };
  const readFile = (path: string) => {
    const text = files[path];
    if (text === undefined) throw new Error(`ENOENT: no such file, open '${path}'`);
    return Buffer.from(text);
  };

  it('gives each NATS user its own reply subjects, which the shipped config lets it alone receive', () => {
    expect(toInboxPrefix(read({ NATS_USER: 'worker-source', NATS_PASSWORD: SECRET }, readNatsSettings).auth)).toBe('_INBOX.worker-source');
    expect(toInboxPrefix(read({ NATS_TOKEN: SECRET }, readNatsSettings).auth)).toBe('_INBOX');
    expect(toInboxPrefix(undefined)).toBe('_INBOX');
  });

  it('hands nats.js the user and password or the token, and the TLS file contents', () => {
    const nats = read({ NATS_USER: 'worker', NATS_PASSWORD: SECRET, NATS_TLS_CA_FILE: '/ca.pem', NATS_TLS_CERT_FILE: '/c.pem', NATS_TLS_KEY_FILE: '/k.pem' }, readNatsSettings);
    expect(toNatsAuthOptions(nats, readFile)).toEqual({ user: 'worker', pass: SECRET, tls: { ca: 'CA', cert: 'CERT', key: 'KEY' } });
    expect(toNatsAuthOptions(read({ NATS_TOKEN: SECRET }, readNatsSettings), readFile)).toEqual({ token: SECRET });
    expect(toNatsAuthOptions(read({}, readNatsSettings), readFile)).toEqual({});
  });

  it('hands the client the user, the password and the CA', () => {
    const redis = read({ REDIS_URL: `rediss://worker:${SECRET}@r:6380`, REDIS_TLS_CA_FILE: '/ca.pem' }, readRedisSettings);
    expect(toRedisAuthOptions(redis, readFile)).toEqual({ username: 'worker', password: SECRET, tls: { ca: Buffer.from('CA') } });
  });

  it('an unreadable TLS file is a config error naming its variable', () => {
    expect(() => readTlsFile({ variable: 'NATS_TLS_CA_FILE', path: '/missing.pem' }, readFile)).toThrow(
      /NATS_TLS_CA_FILE: cannot read "\/missing.pem": ENOENT/,
    );
  });
});
