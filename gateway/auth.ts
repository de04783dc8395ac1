// API keys and tenants (docs/security.md). Keys come from TM_API_KEYS (comma-separated
// `tenant:key`) and/or the file TM_API_KEYS_FILE (one `tenant:key` per line, `#` comments); the
// caller's key decides its tenant, and the tenant scopes every task it can see. Pure: the config
// loader hands in the texts, the gRPC interceptor (auth-interceptor.ts) the metadata values.
//
// Only SHA-256 digests of the keys are kept, so a config object or heap dump that ends up in a
// log holds no usable key, and comparing digests of equal length with timingSafeEqual over every
// configured key takes the same time whichever key (if any) matches.
import { createHash, timingSafeEqual } from 'node:crypto';
import { UnauthenticatedError } from '../shared/errors';
import { DEFAULT_TENANT } from '../shared/task-record';
import { GENERATE_SECRET_HINT, isPlaceholderSecret, PLACEHOLDER_WORDS_TEXT } from '../shared/placeholder-secret';

export const TENANT_PATTERN = /^[a-z0-9_-]{1,64}$/;
export const MIN_KEY_LENGTH = 16;
/** The tenant of every caller while no keys are configured (local development). */
export { DEFAULT_TENANT };
/** Methods that answer without a key: orchestrators probe health without credentials. */
export const OPEN_SERVICE_PREFIXES: readonly string[] = ['/grpc.health.v1.Health/'];

/** gRPC metadata values are printable ASCII; a space would break `Bearer <key>`. */
const KEY_CHARACTERS = /^[\x21-\x7e]+$/;

export type ApiKey = Readonly<{ tenant: string; digest: Buffer }>;

/** One configured text: the variable's value, or the file's content. */
export type KeySource = Readonly<{ variable: string; text: string; format: 'list' | 'lines' }>;

export type ParsedKeys = { keys: ApiKey[]; problems: string[] };

function toDigest(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

type Entry = { where: string; text: string };

function toEntries(source: KeySource): Entry[] {
  if (source.format === 'list') {
    return source.text
      .split(',')
      .map((text, index) => ({ where: `${source.variable} entry ${index + 1}`, text: text.trim() }))
      .filter((entry) => entry.text !== '');
  }
  return source.text
    .split(/\r?\n/)
    .map((text, index) => ({ where: `${source.variable} line ${index + 1}`, text: text.trim() }))
    .filter((entry) => entry.text !== '' && !entry.text.startsWith('#'));
}

/**
 * Every `tenant:key` of every source, and every problem found. A problem names the entry's
 * position only, never its text: a mistyped entry may well be a key. A source that holds no key at all is a
 * problem too: a variable that is set but empty would otherwise switch authentication off.
 */
export function parseApiKeys(sources: readonly KeySource[]): ParsedKeys {
  const keys: ApiKey[] = [];
  const problems: string[] = [];
  const seen = new Map<string, string>();
  for (const source of sources) {
    const entries = toEntries(source);
    if (entries.length === 0) {
      problems.push(`${source.variable} is set but holds no tenant:key entry (unset it to run without authentication)`);
    }
    for (const { where, text } of entries) {
      const colon = text.indexOf(':');
      if (colon === -1) {
        problems.push(`${where} must be tenant:key (no ":" found)`);
        continue;
      }
      const tenant = text.slice(0, colon).trim();
      const key = text.slice(colon + 1).trim();
      const before = problems.length;
      if (!TENANT_PATTERN.test(tenant)) {
        problems.push(`${where}: the tenant must match ${TENANT_PATTERN.source}`);
      }
      if (key.length < MIN_KEY_LENGTH) {
        problems.push(`${where}: the key must be at least ${MIN_KEY_LENGTH} characters, got ${key.length}`);
      } else if (!KEY_CHARACTERS.test(key)) {
        problems.push(`${where}: the key may hold printable ASCII only, without spaces`);
      } else if (isPlaceholderSecret(key)) {
        // Sample keys are public: refusing them beats running with a key everyone has read.
        problems.push(
          `${where}: the key${TENANT_PATTERN.test(tenant) ? ` of tenant ${tenant}` : ''} is a placeholder (it contains ${PLACEHOLDER_WORDS_TEXT}); ` +
            `create a real key, ${GENERATE_SECRET_HINT}`,
        );
      }
      if (problems.length > before) continue;
      const digest = toDigest(key);
      const first = seen.get(digest.toString('hex'));
      if (first !== undefined) {
        problems.push(`${where}: the same key is already configured at ${first} (each key names one tenant)`);
        continue;
      }
      seen.set(digest.toString('hex'), where);
      keys.push(Object.freeze({ tenant, digest }));
    }
  }
  return { keys, problems };
}

export type Authenticator = {
  /** False while no keys are configured: every caller is DEFAULT_TENANT. */
  readonly enabled: boolean;
  /** The tenants that have keys, for the startup log. */
  readonly tenants: readonly string[];
  /**
   * The caller's tenant from its `authorization` metadata values (all of them, as received).
   * Throws UnauthenticatedError saying what is wrong.
   */
  authenticate(authorization: readonly unknown[]): string;
};

const BEARER = /^Bearer +(\S+)$/i;

/** Why a call was refused, for the warn log line (never the key itself). */
export type RefusalReason = 'missing header' | 'repeated header' | 'malformed header' | 'unknown key';

export class ApiKeyRefusedError extends UnauthenticatedError {
  constructor(
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message);
  }
}

export function createAuthenticator(keys: readonly ApiKey[]): Authenticator {
  const enabled = keys.length > 0;
  return {
    enabled,
    tenants: [...new Set(keys.map((key) => key.tenant))].sort(),
    authenticate(authorization) {
      if (!enabled) return DEFAULT_TENANT;
      if (authorization.length === 0) {
        throw new ApiKeyRefusedError('missing header', 'missing API key: send the metadata "authorization: Bearer <API key>"');
      }
      if (authorization.length > 1) {
        throw new ApiKeyRefusedError('repeated header', 'send exactly one "authorization" metadata entry');
      }
      const value = authorization[0];
      const match = typeof value === 'string' ? BEARER.exec(value) : null;
      if (!match) throw new ApiKeyRefusedError('malformed header', 'malformed "authorization" metadata: expected "Bearer <API key>"');
      const candidate = toDigest(match[1]!);
      let tenant: string | undefined;
      // No early exit: every configured key is compared, whichever matches.
      for (const key of keys) {
        if (timingSafeEqual(candidate, key.digest)) tenant ??= key.tenant;
      }
      if (tenant === undefined) throw new ApiKeyRefusedError('unknown key', 'invalid API key');
      return tenant;
    },
  };
}

/** grpc.health.v1 stays open; every other method (TaskManager, reflection) needs a key. */
export function isOpenMethod(path: string): boolean {
  return OPEN_SERVICE_PREFIXES.some((prefix) => path.startsWith(prefix));
}
