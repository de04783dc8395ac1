// `tm` argument parsing: what each command accepts, and usage errors that name the problem.
import { describe, expect, it } from 'vitest';
import { DEFAULT_ADDRESS, isLoopbackAddress, parseCli, toCommandHelp, toUsageLine, USAGE, UsageError } from './cli-args';

const parse = (argv: string[], env: Record<string, string> = {}) => parseCli(argv, env);

function thrown(argv: string[], env: Record<string, string> = {}): UsageError {
  try {
    parse(argv, env);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error(`expected a usage error for ${JSON.stringify(argv)}`);
}

const usageError = (argv: string[], env: Record<string, string> = {}): string => thrown(argv, env).message;

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
      json: false,
      tls: undefined,
      insecure: false,
      command: {
        kind: 'submit',
        watch: true,
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
    expect(parse(['submit', 'echo']).command).toEqual({ kind: 'submit', watch: false, input: { type: 'echo', payload: '{}', priority: 'medium' } });
    expect(parse(['get', 'x']).address).toBe(DEFAULT_ADDRESS);
    const fromEnv = parse(['get', 'x'], { TM_ADDRESS: '127.0.0.9:9', TM_TOKEN: 'tok', TM_PROTO_PATH: '/p.proto' });
    expect(fromEnv).toMatchObject({ address: '127.0.0.9:9', token: 'tok', protoPath: '/p.proto' });
    expect(parse(['get', 'x', '--address', 'flag:1'], { TM_ADDRESS: 'env-host:9' }).address).toBe('flag:1');
  });

  it('parses watch, get, result, cancel and demo', () => {
    expect(parse(['watch', 'id-1']).command).toEqual({ kind: 'watch', taskId: 'id-1', fromStart: false });
    expect(parse(['watch', 'id-1', '--from-start']).command).toEqual({ kind: 'watch', taskId: 'id-1', fromStart: true });
    expect(parse(['get', 'id-2']).command).toEqual({ kind: 'get', taskId: 'id-2' });
    expect(parse(['result', 'id-3']).command).toEqual({ kind: 'result', taskId: 'id-3' });
    expect(parse(['cancel', 'id-4']).command).toEqual({ kind: 'cancel', taskId: 'id-4' });
    expect(parse(['demo']).command).toEqual({ kind: 'demo', count: undefined });
    expect(parse(['demo', '--count', '20']).command).toEqual({ kind: 'demo', count: 20 });
  });

  it('takes --json on every command, before or after it', () => {
    for (const argv of [['submit', 'echo'], ['watch', 'a'], ['get', 'a'], ['result', 'a'], ['cancel', 'a'], ['demo']]) {
      expect(parse([...argv, '--json']).json, argv[0]).toBe(true);
      expect(parse(['--json', ...argv]).json, argv[0]).toBe(true);
      expect(parse(argv).json, argv[0]).toBe(false);
    }
  });

  it('recognizes help in every spelling, per command too, and --version', () => {
    for (const argv of [['--help'], ['-h'], ['help'], ['bogus', '--help']]) expect(parse(argv).command).toEqual({ kind: 'help', topic: undefined });
    for (const argv of [['submit', '--help'], ['help', 'submit'], ['-h', 'submit'], ['submit', 'echo', '{}', '-h']]) {
      expect(parse(argv).command).toEqual({ kind: 'help', topic: 'submit' });
    }
    expect(parse(['--version']).command).toEqual({ kind: 'version' });
    expect(parse(['get', '--version']).command).toEqual({ kind: 'version' });
    expect(usageError(['help', 'launch'])).toContain("unknown command 'launch'");
  });

  it('has a help text per command that shows its arguments and options', () => {
    expect(USAGE).toMatch(/^Usage: tm <command> \[options\]/);
    for (const name of ['submit', 'watch', 'get', 'result', 'cancel', 'demo'] as const) expect(USAGE).toContain(`  ${name} `);
    expect(toCommandHelp('submit')).toMatch(/^Usage: tm submit <type> \[payload-json\] .*\[--watch\] \[global options\]\n/);
    for (const option of ['--priority', '--key', '--delay-ms', '--max-attempts', '--meta', '--watch', '--json', '--tls', '--ca', '--insecure']) {
      expect(toCommandHelp('submit')).toContain(option);
    }
    expect(toCommandHelp('watch')).toContain('--from-start');
    expect(toUsageLine('get')).toBe('Usage: tm get <id> [global options]');
    expect(toUsageLine(undefined)).toBe('Usage: tm <command> [options]   (commands: submit, watch, get, result, cancel, list, dlq, audit, stats, pause, resume, types, demo)');
  });

  it('names an unknown flag, a flag without its value and a value given to a switch, with the command whose usage to show', () => {
    expect({ ...thrown(['get', 'a', '--bogus']) }).toMatchObject({ command: 'get' });
    expect(usageError(['get', 'a', '--bogus'])).toBe('unknown option --bogus');
    expect(usageError(['-x', 'watch', 'a'])).toBe('unknown option -x');
    expect(thrown(['-x', 'watch', 'a']).command).toBe('watch');
    expect(usageError(['submit', 'echo', '--priority'])).toBe('option --priority needs a value');
    expect(usageError(['submit', 'echo', '--watch=yes'])).toBe('option --watch takes no value');
    expect(usageError(['get', 'x', '--address'])).toBe('option --address needs a value');
    expect(thrown(['launch', '--bogus']).command).toBeUndefined();
  });

  it('names a missing argument', () => {
    expect(thrown(['get'])).toMatchObject({ message: "'get' needs a task id: missing <id>", command: 'get' });
    expect(thrown(['submit'])).toMatchObject({ message: "'submit' needs a task type: missing <type>", command: 'submit' });
    expect(thrown([])).toMatchObject({ message: 'missing command (submit, watch, get, result, cancel, list, dlq, audit, stats, pause, resume, types, demo)', command: undefined });
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
    expect(usageError(['get'])).toContain("'get' needs a task id");
    expect(usageError(['get', 'a', 'b'])).toContain("unexpected argument 'b' for 'get'");
    expect(usageError(['cancel', ' '])).toContain('the task id must not be empty');
    expect(usageError(['get', 'a', '--priority', 'high'])).toContain("option --priority does not apply to 'get'");
    expect(usageError(['watch', 'a', '--watch'])).toContain("option --watch does not apply to 'watch'");
    expect(usageError(['demo', '--count', '0'])).toContain("--count must be a whole number >= 1 (got '0')");
    expect(usageError(['demo', 'now'])).toContain("unexpected argument 'now' for 'demo'");
    expect(usageError(['get', 'a', '--bogus'])).toContain('--bogus');
    expect(usageError(['get', 'a', '--address', ''])).toContain('--address must not be empty');
  });
});

describe('TLS and the token', () => {
  const local = 'localhost:50051';
  const remote = 'gw.example.com:50051';

  it('plaintext unless asked: --tls, --ca <file> (implies TLS), TM_TLS=1 or TM_CA_FILE; --ca wins over TM_CA_FILE', () => {
    expect(parse(['get', 'a']).tls).toBeUndefined();
    expect(parse(['get', 'a', '--tls']).tls).toEqual({ ca: undefined });
    expect(parse(['get', 'a'], { TM_TLS: '1' }).tls).toEqual({ ca: undefined });
    expect(parse(['get', 'a'], { TM_TLS: 'off' }).tls).toBeUndefined();
    expect(parse(['get', 'a', '--ca', '/etc/tm/ca.pem']).tls).toEqual({ ca: { path: '/etc/tm/ca.pem', from: '--ca' } });
    expect(parse(['get', 'a'], { TM_CA_FILE: '/ca.pem' }).tls).toEqual({ ca: { path: '/ca.pem', from: 'TM_CA_FILE' } });
    expect(parse(['get', 'a', '--ca', '/mine.pem'], { TM_CA_FILE: '/ca.pem' }).tls).toEqual({ ca: { path: '/mine.pem', from: '--ca' } });
    expect(usageError(['get', 'a'], { TM_TLS: 'maybe' })).toBe("TM_TLS must be 1/true/yes/on or 0/false/no/off (got 'maybe')");
    expect(usageError(['get', 'a', '--ca', ''])).toBe('--ca must not be empty');
  });

  it('refuses to send a token without TLS to another machine, unless --insecure', () => {
    const token = { TM_TOKEN: 'k3y-of-at-least-16-chars' };
    const refused = thrown(['get', 'a', '--address', remote], token);
    expect(refused.message).toMatch(/^refusing to send TM_TOKEN without TLS to gw\.example\.com:50051 .*--tls.*--ca <file>.*--insecure/);
    expect(refused.message).not.toContain(token.TM_TOKEN);
    expect(refused.command).toBe('get');
    expect(parse(['get', 'a', '--address', remote, '--tls'], token).tls).toEqual({ ca: undefined });
    expect(parse(['get', 'a', '--address', remote, '--insecure'], token)).toMatchObject({ insecure: true, tls: undefined });
    expect(parse(['get', 'a', '--address', local], token).tls).toBeUndefined();
    expect(parse(['get', 'a', '--address', remote]).token).toBeUndefined();
    expect(usageError(['get', 'a', '--tls', '--insecure'])).toMatch(/^--insecure lets TM_TOKEN travel without TLS; it does not apply with TLS/);
  });

  it('knows which addresses are this machine', () => {
    const cases: [string, boolean][] = [
      ['localhost:50051', true],
      ['LOCALHOST:1', true],
      ['127.0.0.1:50051', true],
      ['127.1.2.3:9', true],
      ['[::1]:50051', true],
      ['dns:///localhost:50051', true],
      ['ipv4:127.0.0.1:50051', true],
      ['unix:/run/tm.sock', true],
      ['app.localhost:1', true],
      ['gw.example.com:50051', false],
      ['10.0.0.5:50051', false],
      ['[2001:db8::1]:50051', false],
      ['dns:///gw.example.com:443', false],
      ['localhost.example.com:1', false],
      ['128.0.0.1:1', false],
    ];
    for (const [address, loopback] of cases) expect(isLoopbackAddress(address), address).toBe(loopback);
  });

  it('reads the operator commands: dlq list and replay, audit, stats, pause, resume', () => {
    expect(parse(['dlq', 'list', '--type', 'fail']).command).toEqual({ kind: 'dlq', query: { type: 'fail' }, limit: 50 });
    expect(parse(['dlq', 'replay', 'd1', 'd2']).command).toEqual({ kind: 'replay', query: { ids: ['d1', 'd2'], dryRun: false } });
    expect(parse(['dlq', 'replay', '--all', '--type', 'fail', '--dry-run', '--json']).command).toEqual({ kind: 'replay', query: { type: 'fail', dryRun: true } });
    expect(parse(['audit', 't-1']).command).toEqual({ kind: 'audit', taskId: 't-1' });
    expect(parse(['stats', '--json'])).toMatchObject({ json: true, command: { kind: 'stats' } });
    expect(parse(['pause', 'worker.medium']).command).toEqual({ kind: 'pause', queue: 'worker.medium' });
    expect(parse(['resume', 'worker.medium']).command).toEqual({ kind: 'resume', queue: 'worker.medium' });
  });

  it('refuses what the operator commands cannot mean, naming it', () => {
    expect(usageError(['dlq'])).toBe("'dlq' needs a subcommand: list or replay");
    expect(usageError(['dlq', 'purge'])).toBe("unknown subcommand 'purge' for 'dlq' (expected list or replay)");
    expect(usageError(['dlq', 'replay'])).toBe("'dlq replay' needs dead-letter ids, or --all (with filters) for every match");
    expect(usageError(['dlq', 'replay', 'd1', '--all'])).toBe('give dead-letter ids or --all, not both');
    expect(usageError(['dlq', 'replay', 'd1', '--type', 'fail'])).toBe('--type, --stage and --task go with --all, not with ids');
    expect(usageError(['dlq', 'replay', '--all', '--limit', '3'])).toBe("--limit applies to 'dlq list', not 'dlq replay'");
    expect(usageError(['dlq', 'list', '--dry-run'])).toBe("--dry-run applies to 'dlq replay', not 'dlq list'");
    expect(usageError(['audit'])).toBe("'audit' needs a task id: missing <id>");
    expect(usageError(['stats', 'now'])).toBe("unexpected argument 'now' for 'stats'");
    expect(usageError(['pause'])).toBe("'pause' needs a queue: missing <queue>");
    expect(usageError(['resume', 'a', 'b'])).toBe("unexpected argument 'b' for 'resume'");
    expect(usageError(['stats', '--all'])).toBe("option --all does not apply to 'stats'");
  });
});
