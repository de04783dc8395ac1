// Config parsing: pure functions over an environment object. `createEnvReader` collects every
// problem so that a misconfigured process reports all of them at once, then `finish` throws a
// single ConfigError. Only entry files pass `process.env` in.
import { ConfigError } from './errors';
import { DEFAULT_FLOW_SETTINGS, type FlowSettings } from './contract';

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

/** The flow settings of DESIGN §4, each overridable by environment (tests scale retries down). */
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

export type ConnectionSettings = {
  readonly natsUrl: string;
  readonly redisUrl: string;
};

export function readConnectionSettings(reader: EnvReader): ConnectionSettings {
  return {
    natsUrl: reader.string('NATS_URL', 'nats://127.0.0.1:4222'),
    redisUrl: reader.url('REDIS_URL', 'redis://127.0.0.1:6379'),
  };
}
