// `tm` argument parsing: what each command accepts, and usage errors that name the problem.
import { describe, expect, it } from 'vitest';
import { DEFAULT_ADDRESS, parseCli, UsageError } from './cli-args';

const parse = (argv: string[], env: Record<string, string> = {}) => parseCli(argv, env);

function usageError(argv: string[]): string {
  try {
    parse(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error(`expected a usage error for ${JSON.stringify(argv)}`);
}

describe('parseCli', () => {
  it('parses a submit with every option', () => {
    const invocation = parse([
      'submit', 'sleep', '{"ms": 100}',
      '--priority', 'high', '--key', 'k1', '--delay-ms', '2500', '--max-attempts', '3',
      '--meta', 'team=core', '--meta', 'note=a=b', '--watch', '--address', 'gw:1234',
    ]);
    expect(invocation).toEqual({
      address: 'gw:1234',
      token: undefined,
      protoPath: undefined,
      command: {
        kind: 'submit',
        watch: true,
        json: false,
        input: {
          type: 'sleep',
          payload: '{"ms": 100}',
          priority: 'high',
          idempotencyKey: 'k1',
          delayMs: 2500,
          maxAttempts: 3,
          metadata: { team: 'core', note: 'a=b' },
        },
      },
    });
  });

  it('defaults: payload {}, medium priority, address from TM_ADDRESS or localhost:50051, token from TM_TOKEN', () => {
    expect(parse(['submit', 'echo']).command).toEqual({ kind: 'submit', watch: false, json: false, input: { type: 'echo', payload: '{}', priority: 'medium' } });
    expect(parse(['get', 'x']).address).toBe(DEFAULT_ADDRESS);
    const fromEnv = parse(['get', 'x'], { TM_ADDRESS: 'env-host:9', TM_TOKEN: 'tok', TM_PROTO_PATH: '/p.proto' });
    expect(fromEnv).toMatchObject({ address: 'env-host:9', token: 'tok', protoPath: '/p.proto' });
    expect(parse(['get', 'x', '--address', 'flag:1'], { TM_ADDRESS: 'env-host:9' }).address).toBe('flag:1');
  });

  it('parses watch, get, result, cancel and demo', () => {
    expect(parse(['watch', 'id-1']).command).toEqual({ kind: 'watch', taskId: 'id-1', fromStart: false, json: false });
    expect(parse(['watch', 'id-1', '--from-start', '--json']).command).toEqual({ kind: 'watch', taskId: 'id-1', fromStart: true, json: true });
    expect(parse(['get', 'id-2']).command).toEqual({ kind: 'get', taskId: 'id-2' });
    expect(parse(['result', 'id-3']).command).toEqual({ kind: 'result', taskId: 'id-3' });
    expect(parse(['cancel', 'id-4']).command).toEqual({ kind: 'cancel', taskId: 'id-4' });
    expect(parse(['demo']).command).toEqual({ kind: 'demo', count: undefined });
    expect(parse(['demo', '--count', '20']).command).toEqual({ kind: 'demo', count: 20 });
  });

  it('recognizes help in every spelling', () => {
    for (const argv of [['--help'], ['-h'], ['help'], ['submit', '--help']]) expect(parse(argv).command).toEqual({ kind: 'help' });
  });

  it('names a bad priority and lists the valid ones', () => {
    const message = usageError(['submit', 'echo', '--priority', 'urgent']);
    expect(message).toContain('--priority');
    expect(message).toContain("'urgent'");
    expect(message).toContain('low, medium, high');
  });

  it('names the problem for each kind of bad input', () => {
    expect(usageError([])).toContain('missing command');
    expect(usageError(['launch'])).toContain("unknown command 'launch'");
    expect(usageError(['submit'])).toContain('needs a task type');
    expect(usageError(['submit', 'echo', '{nope'])).toContain('payload is not valid JSON');
    expect(usageError(['submit', 'echo', '{}', 'extra'])).toContain("unexpected argument 'extra'");
    expect(usageError(['submit', 'echo', '--delay-ms', '-5'])).toMatch(/--delay-ms/);
    expect(usageError(['submit', 'echo', '--delay-ms', '1.5'])).toContain("--delay-ms must be a whole number (got '1.5')");
    expect(usageError(['submit', 'echo', '--max-attempts', 'three'])).toContain("--max-attempts must be a whole number (got 'three')");
    expect(usageError(['submit', 'echo', '--meta', 'novalue'])).toContain("--meta expects key=value (got 'novalue')");
    expect(usageError(['submit', 'echo', '--meta', '=v'])).toContain('--meta expects key=value');
    expect(usageError(['submit', 'echo', '--key', ''])).toContain('--key must not be empty');
    expect(usageError(['submit', 'echo', '--priority'])).toContain('--priority');
    expect(usageError(['get'])).toContain("'get' needs a task id");
    expect(usageError(['get', 'a', 'b'])).toContain("unexpected argument 'b' for 'get'");
    expect(usageError(['cancel', ' '])).toContain('task id must not be empty');
    expect(usageError(['get', 'a', '--priority', 'high'])).toContain("option --priority does not apply to 'get'");
    expect(usageError(['watch', 'a', '--watch'])).toContain("option --watch does not apply to 'watch'");
    expect(usageError(['demo', '--count', '0'])).toContain("--count must be a whole number >= 1 (got '0')");
    expect(usageError(['demo', 'now'])).toContain("unexpected argument 'now' for 'demo'");
    expect(usageError(['get', 'a', '--bogus'])).toContain('--bogus');
    expect(usageError(['get', 'a', '--address', ''])).toContain('--address must not be empty');
  });
});
