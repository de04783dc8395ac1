// API keys: how they are configured (env list and mounted file), what the loader refuses, and
// how a caller's metadata becomes its tenant.
import { describe, expect, it } from 'vitest';
import { ConfigError, UnauthenticatedError } from '../shared/errors';
import { createAuthenticator, DEFAULT_TENANT, isOpenMethod, parseApiKeys } from './auth';
import { loadGatewayConfig } from './config';

const KEY_A = 'acme-key-0123456789abcdef';
const KEY_A2 = 'acme-rotated-key-0123456789';
const KEY_B = 'globex-key-0123456789abcdef';

const paths = (files: Record<string, string> = {}) => ({
  cwd: '/repo',
  exists: () => true,
  readFile: (path: string) => {
    const text = files[path];
    if (text === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
    return text;
  },
});

function problemsOf(env: Record<string, string>, files: Record<string, string> = {}): readonly string[] {
  try {
    loadGatewayConfig(env, paths(files));
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

function unauthenticated(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(UnauthenticatedError);
    return (error as Error).message;
  }
  throw new Error('expected UnauthenticatedError');
}

describe('API key configuration', () => {
  it('reads TM_API_KEYS and TM_API_KEYS_FILE together, keeping only digests', () => {
    const file = `# tenant:key, one per line\n\nglobex:${KEY_B}\n  # rotated key below\nacme:${KEY_A2}\n`;
    const config = loadGatewayConfig({ TM_API_KEYS: `acme:${KEY_A}, `, TM_API_KEYS_FILE: '/run/secrets/keys' }, paths({ '/run/secrets/keys': file }));
    expect(config.apiKeys.map((key) => key.tenant)).toEqual(['acme', 'globex', 'acme']);
    expect(JSON.stringify(config)).not.toContain(KEY_A);
    const auth = createAuthenticator(config.apiKeys);
    expect(auth.tenants).toEqual(['acme', 'globex']);
    expect(auth.authenticate([`Bearer ${KEY_A2}`])).toBe('acme');
    expect(auth.authenticate([`Bearer ${KEY_B}`])).toBe('globex');
  });

  it('without keys authentication is off and every caller is the default tenant', () => {
    const config = loadGatewayConfig({}, paths());
    expect(config.apiKeys).toEqual([]);
    const auth = createAuthenticator(config.apiKeys);
    expect(auth.enabled).toBe(false);
    expect(auth.authenticate([])).toBe(DEFAULT_TENANT);
  });

  it('lists every problem of every entry, by position, never echoing an entry', () => {
    const file = `acme:${KEY_A}\nnot-a-pair\n`;
    const problems = problemsOf(
      { TM_API_KEYS: `Acme!:${KEY_B},short:tiny,spaced:has a space in it!!,${KEY_B}:oops`, TM_API_KEYS_FILE: '/keys' },
      { '/keys': `${file}dup:${KEY_A}\n` },
    );
    expect(problems).toEqual([
      'TM_API_KEYS entry 1: the tenant must match ^[a-z0-9_-]{1,64}$',
      'TM_API_KEYS entry 2: the key must be at least 16 characters, got 4',
      'TM_API_KEYS entry 3: the key may hold printable ASCII only, without spaces',
      // key:tenant swapped: the "tenant" looks valid, the "key" is short; neither is shown.
      'TM_API_KEYS entry 4: the key must be at least 16 characters, got 4',
      'TM_API_KEYS_FILE line 2 must be tenant:key (no ":" found)',
      'TM_API_KEYS_FILE line 3: the same key is already configured at TM_API_KEYS_FILE line 1 (each key names one tenant)',
    ]);
    for (const secret of [KEY_A, KEY_B, 'tiny']) expect(problems.join('\n')).not.toContain(secret);
  });

  it('refuses a key file that cannot be read or holds no key, rather than running without authentication', () => {
    expect(problemsOf({ TM_API_KEYS_FILE: '/nope' })).toEqual([
      `TM_API_KEYS_FILE: cannot read "/nope": ENOENT: no such file or directory, open '/nope'`,
    ]);
    expect(problemsOf({ TM_API_KEYS_FILE: '/empty' }, { '/empty': '# nothing yet\n\n' })).toEqual([
      'TM_API_KEYS_FILE is set but holds no tenant:key entry (unset it to run without authentication)',
    ]);
    expect(problemsOf({ TM_API_KEYS: ' , ' })).toEqual([
      'TM_API_KEYS is set but holds no tenant:key entry (unset it to run without authentication)',
    ]);
  });

  it('refuses a placeholder key (the kind sample manifests ship), naming the setting and the tenant, never the key', () => {
    const placeholder = 'placeholder-api-key-change-me';
    const problems = problemsOf(
      { TM_API_KEYS: `acme:${KEY_A},globex:CHANGEME-0123456789`, TM_API_KEYS_FILE: '/keys' },
      { '/keys': `# sample\ndefault:${placeholder}\n` },
    );
    const hint = 'it contains "placeholder", "change-me"/"changeme" or "replace-me"); create a real key, e.g. the output of `openssl rand -hex 24`';
    expect(problems).toEqual([
      `TM_API_KEYS entry 2: the key of tenant globex is a placeholder (${hint}`,
      `TM_API_KEYS_FILE line 2: the key of tenant default is a placeholder (${hint}`,
    ]);
    expect(problems.join('\n')).not.toContain(placeholder);
    expect(problems.join('\n')).not.toContain('CHANGEME-0123456789');
  });
});

describe('createAuthenticator', () => {
  const { keys, problems } = parseApiKeys([{ variable: 'TM_API_KEYS', text: `acme:${KEY_A},globex:${KEY_B}`, format: 'list' }]);
  const auth = createAuthenticator(keys);

  it('maps a bearer key to its tenant (scheme case-insensitive, as RFC 7235 says)', () => {
    expect(problems).toEqual([]);
    expect(auth.enabled).toBe(true);
    expect(auth.authenticate([`Bearer ${KEY_A}`])).toBe('acme');
    expect(auth.authenticate([`bearer ${KEY_B}`])).toBe('globex');
  });

  it('refuses missing, repeated, malformed and wrong keys with a message that says which', () => {
    expect(unauthenticated(() => auth.authenticate([]))).toBe('missing API key: send the metadata "authorization: Bearer <API key>"');
    expect(unauthenticated(() => auth.authenticate([`Bearer ${KEY_A}`, `Bearer ${KEY_B}`]))).toBe(
      'send exactly one "authorization" metadata entry',
    );
    for (const malformed of [KEY_A, `Basic ${KEY_A}`, 'Bearer', `Bearer ${KEY_A} extra`, Buffer.from(`Bearer ${KEY_A}`)]) {
      expect(unauthenticated(() => auth.authenticate([malformed]))).toBe('malformed "authorization" metadata: expected "Bearer <API key>"');
    }
    for (const wrong of [`${KEY_A}x`, KEY_A.slice(0, -1), KEY_A.toUpperCase()]) {
      const message = unauthenticated(() => auth.authenticate([`Bearer ${wrong}`]));
      expect(message).toBe('invalid API key');
    }
  });

  it('leaves grpc.health.v1 open and nothing else', () => {
    expect(isOpenMethod('/grpc.health.v1.Health/Check')).toBe(true);
    expect(isOpenMethod('/grpc.health.v1.Health/Watch')).toBe(true);
    expect(isOpenMethod('/taskmanager.v1.TaskManager/GetTask')).toBe(false);
    expect(isOpenMethod('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo')).toBe(false);
    expect(isOpenMethod('/grpc.health.v1.HealthX/Check')).toBe(false);
  });
});
