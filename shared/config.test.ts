import { describe, expect, it } from 'vitest';
import { createEnvReader, readConnectionSettings, readFlowSettings, readListenHost } from './config';
import { DEFAULT_FLOW_SETTINGS } from './contract';
import { ConfigError } from './errors';

function problemsOf(run: () => void): readonly string[] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('readFlowSettings', () => {
  it("uses the design's defaults when nothing is set, frozen", () => {
    const reader = createEnvReader({});
    const settings = readFlowSettings(reader);
    reader.finish();
    expect(settings).toEqual(DEFAULT_FLOW_SETTINGS);
    expect(Object.isFrozen(settings)).toBe(true);
    expect(Object.isFrozen(settings.retryDelaysMs)).toBe(true);
  });

  it('reads every override from the environment (tests scale the retries down)', () => {
    const reader = createEnvReader({
      TM_RETRY_DELAYS_MS: '100, 200,300',
      TM_ACK_WAIT_MS: '2000',
      TM_MAX_DELIVER: '3',
      TM_STREAM_MAX_AGE_MS: '60000',
      TM_STREAM_MAX_MSGS: '10',
      TM_STREAM_MAX_BYTES: '4096',
      TM_DUPLICATE_WINDOW_MS: '5000',
    });
    const settings = readFlowSettings(reader);
    reader.finish();
    expect(settings).toEqual({
      retryDelaysMs: [100, 200, 300],
      ackWaitMs: 2000,
      maxDeliver: 3,
      maxAgeMs: 60_000,
      maxMsgs: 10,
      maxBytes: 4096,
      duplicateWindowMs: 5000,
    });
  });

  it('lists every problem at once, each naming its variable', () => {
    const problems = problemsOf(() => {
      const reader = createEnvReader({
        TM_RETRY_DELAYS_MS: '100,soon',
        TM_ACK_WAIT_MS: '30s',
        TM_MAX_DELIVER: '0',
        TM_STREAM_MAX_BYTES: '10',
        REDIS_URL: 'not a url',
      });
      readFlowSettings(reader);
      readConnectionSettings(reader);
      reader.finish();
    });
    expect(problems).toHaveLength(5);
    expect(problems.join('\n')).toMatch(/TM_RETRY_DELAYS_MS .*"100,soon"/);
    expect(problems.join('\n')).toMatch(/TM_ACK_WAIT_MS must be an integer, got "30s"/);
    expect(problems.join('\n')).toMatch(/TM_MAX_DELIVER must be >= 1, got 0/);
    expect(problems.join('\n')).toMatch(/TM_STREAM_MAX_BYTES must be >= 1024, got 10/);
    expect(problems.join('\n')).toMatch(/REDIS_URL must be a URL, got "not a url"/);
  });

  it('the ConfigError message lists every problem too', () => {
    const reader = createEnvReader({ TM_MAX_DELIVER: '101', TM_ACK_WAIT_MS: '-5' });
    readFlowSettings(reader);
    expect(() => reader.finish()).toThrow(/TM_ACK_WAIT_MS must be >= 1000[\s\S]*TM_MAX_DELIVER must be <= 100/);
  });
});

describe('readListenHost', () => {
  const hostOf = (env: Record<string, string>) => {
    const reader = createEnvReader(env);
    const host = readListenHost(reader);
    reader.finish();
    return host;
  };

  it('listens on loopback only when HOST is not set (npm start), and on what HOST says otherwise', () => {
    expect(hostOf({})).toBe('127.0.0.1');
    expect(hostOf({ HOST: '  ' })).toBe('127.0.0.1');
    expect(['0.0.0.0', '::', '::1', '192.0.2.7', 'localhost', 'my-host.example'].map((HOST) => hostOf({ HOST }))).toEqual([
      '0.0.0.0',
      '::',
      '::1',
      '192.0.2.7',
      'localhost',
      'my-host.example',
    ]);
  });

  it('refuses a HOST that is neither an address nor a host name, naming it', () => {
    expect(problemsOf(() => hostOf({ HOST: 'http://0.0.0.0' }))).toEqual([
      'HOST must be an IP address or a host name (e.g. 127.0.0.1, 0.0.0.0, ::), got "http://0.0.0.0"',
    ]);
    expect(problemsOf(() => hostOf({ HOST: '0.0.0.0:8080' }))).toHaveLength(1);
  });
});

describe('createEnvReader', () => {
  it('finish() does nothing when all is well', () => {
    const reader = createEnvReader({ A: '1' });
    expect(reader.int('A', 0)).toBe(1);
    expect(() => reader.finish()).not.toThrow();
  });

  it('treats blank values as unset and trims the rest', () => {
    const reader = createEnvReader({ BLANK: '   ', PADDED: '  42 ', NAME: ' x ' });
    expect(reader.int('BLANK', 7)).toBe(7);
    expect(reader.int('PADDED', 0)).toBe(42);
    expect(reader.string('NAME')).toBe('x');
    reader.finish();
  });

  it('parses each kind and records a problem for each bad value', () => {
    const problems = problemsOf(() => {
      const reader = createEnvReader({
        REQUIRED_MISSING: '',
        NUM_OK: '0.25',
        NUM_BAD: 'lots',
        NUM_RANGE: '1.5',
        INT_FRACTION: '1.5',
        BOOL_YES: 'Yes',
        BOOL_OFF: 'off',
        BOOL_BAD: 'maybe',
        LIST_EMPTY_ITEM: '1,,2',
        LIST_NEGATIVE: '-1',
      });
      expect(reader.string('REQUIRED_MISSING')).toBe('');
      expect(reader.number('NUM_OK', 0, { min: 0, max: 1 })).toBe(0.25);
      expect(reader.number('NUM_BAD', 0.5)).toBe(0.5);
      reader.number('NUM_RANGE', 0, { max: 1 });
      expect(reader.int('INT_FRACTION', 3)).toBe(3);
      expect(reader.bool('BOOL_YES', false)).toBe(true);
      expect(reader.bool('BOOL_OFF', true)).toBe(false);
      expect(reader.bool('BOOL_BAD', true)).toBe(true);
      expect(reader.intList('LIST_EMPTY_ITEM', [9])).toEqual([9]);
      expect(reader.intList('LIST_NEGATIVE', [9])).toEqual([9]);
      reader.problem('a check of the caller failed');
      reader.finish();
    });
    expect(problems).toEqual([
      'REQUIRED_MISSING is required',
      'NUM_BAD must be a number, got "lots"',
      'NUM_RANGE must be <= 1, got 1.5',
      'INT_FRACTION must be an integer, got "1.5"',
      'BOOL_BAD must be true or false, got "maybe"',
      'LIST_EMPTY_ITEM must be a comma-separated list of non-negative integers, got "1,,2"',
      'LIST_NEGATIVE must be a comma-separated list of non-negative integers, got "-1"',
      'a check of the caller failed',
    ]);
  });

  it('readConnectionSettings defaults to the local servers', () => {
    const reader = createEnvReader({});
    expect(readConnectionSettings(reader)).toMatchObject({
      natsUrl: 'nats://127.0.0.1:4222',
      redisUrl: 'redis://127.0.0.1:6379',
      nats: { url: 'nats://127.0.0.1:4222', auth: { kind: 'none' }, tls: undefined },
      redis: { url: 'redis://127.0.0.1:6379', username: undefined, password: undefined, tls: undefined, keyPrefix: 'tm:' },
    });
    reader.finish();
  });
});
