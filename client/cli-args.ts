// `tm` argument parsing: argv → one validated Invocation, or a UsageError that names the problem.
// Pure (no I/O), so every rule is unit-tested; the server still validates everything it receives.
import { parseArgs } from 'node:util';
import { isPriority, PRIORITIES, type SubmitInput } from './types';

export const DEFAULT_ADDRESS = 'localhost:50051';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type Command =
  | { kind: 'help' }
  | { kind: 'submit'; input: SubmitInput; watch: boolean; json: boolean }
  | { kind: 'watch'; taskId: string; fromStart: boolean; json: boolean }
  | { kind: 'get'; taskId: string }
  | { kind: 'result'; taskId: string }
  | { kind: 'cancel'; taskId: string }
  | { kind: 'demo'; count: number | undefined };

export type Invocation = { command: Command; address: string; token: string | undefined; protoPath: string | undefined };

export const USAGE = `Usage: tm <command> [options]

Commands:
  submit <type> [payload-json]   submit a task (payload defaults to {}); prints {taskId, state, duplicate}
      --priority low|medium|high   default medium
      --key K                      idempotency key: the same key returns the same task
      --delay-ms N                 run no earlier than now + N ms
      --max-attempts N             1..5 (0 or absent: the server's default)
      --meta k=v                   metadata entry; repeatable
      --watch                      then follow its status to the end (exit 0 only if it SUCCEEDED)
      --json                       status lines as JSON (with --watch)
  watch <id> [--from-start] [--json]
                                 follow a task's status until it ends; --from-start replays its
                                 whole history; exit 0 if it SUCCEEDED, 3 if it ended otherwise
  get <id>                       task metadata, status and history as JSON
  result <id>                    result of a finished task as JSON
  cancel <id>                    cancel a task that has not finished
  demo [--count N]               submit a mix of example tasks and show their progress live

Global options:
  --address host:port            gateway address (env TM_ADDRESS, default ${DEFAULT_ADDRESS})
  -h, --help                     this text
Environment: TM_TOKEN (sent as a bearer token), TM_PROTO_PATH (path of taskmanager.proto).
Exit codes: 0 ok, 1 server or connection error, 2 usage error, 3 task ended but did not succeed.
`;

const OPTIONS = {
  address: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  priority: { type: 'string' },
  key: { type: 'string' },
  'delay-ms': { type: 'string' },
  'max-attempts': { type: 'string' },
  meta: { type: 'string', multiple: true },
  watch: { type: 'boolean' },
  json: { type: 'boolean' },
  'from-start': { type: 'boolean' },
  count: { type: 'string' },
} as const;

type OptionName = keyof typeof OPTIONS;

const COMMAND_OPTIONS: Record<Exclude<Command['kind'], 'help'>, readonly OptionName[]> = {
  submit: ['priority', 'key', 'delay-ms', 'max-attempts', 'meta', 'watch', 'json'],
  watch: ['from-start', 'json'],
  get: [],
  result: [],
  cancel: [],
  demo: ['count'],
};
const GLOBAL_OPTIONS: readonly OptionName[] = ['address', 'help'];

function isCommandName(name: string): name is keyof typeof COMMAND_OPTIONS {
  return Object.hasOwn(COMMAND_OPTIONS, name);
}

function toWholeNumber(option: string, text: string, min: number): number {
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text)) || Number(text) < min) {
    throw new UsageError(`--${option} must be a whole number${min > 0 ? ` >= ${min}` : ''} (got '${text}')`);
  }
  return Number(text);
}

function toMetadata(entries: readonly string[]): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new UsageError(`--meta expects key=value (got '${entry}')`);
    metadata[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return metadata;
}

function requireOne(command: string, positionals: string[], what: string): string {
  if (positionals.length === 0) throw new UsageError(`'${command}' needs ${what}`);
  if (positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1]}' for '${command}'`);
  const value = positionals[0]!;
  if (value.trim() === '') throw new UsageError(`${what} must not be empty`);
  return value;
}

export function parseCli(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Invocation {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const address = values.address ?? env.TM_ADDRESS ?? DEFAULT_ADDRESS;
  if (address.trim() === '') throw new UsageError('--address must not be empty');
  const base = { address, token: env.TM_TOKEN || undefined, protoPath: env.TM_PROTO_PATH || undefined };

  const [name, ...rest] = positionals;
  if (values.help || name === 'help') return { ...base, command: { kind: 'help' } };
  if (name === undefined) throw new UsageError('missing command (submit, watch, get, result, cancel, demo)');
  if (!isCommandName(name)) throw new UsageError(`unknown command '${name}' (expected submit, watch, get, result, cancel or demo)`);

  const allowed = new Set<string>([...GLOBAL_OPTIONS, ...COMMAND_OPTIONS[name]]);
  const misplaced = Object.keys(values).find((option) => !allowed.has(option));
  if (misplaced) throw new UsageError(`option --${misplaced} does not apply to '${name}'`);

  switch (name) {
    case 'submit':
      return { ...base, command: toSubmitCommand(rest, values) };
    case 'watch':
      return {
        ...base,
        command: { kind: 'watch', taskId: requireOne(name, rest, 'a task id'), fromStart: values['from-start'] ?? false, json: values.json ?? false },
      };
    case 'get':
    case 'result':
    case 'cancel':
      return { ...base, command: { kind: name, taskId: requireOne(name, rest, 'a task id') } };
    case 'demo':
      if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}' for 'demo'`);
      return { ...base, command: { kind: 'demo', count: values.count === undefined ? undefined : toWholeNumber('count', values.count, 1) } };
  }
}

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

function toSubmitCommand(positionals: string[], values: Values): Command {
  const [type, payloadText, extra] = positionals;
  if (type === undefined || type.trim() === '') throw new UsageError(`'submit' needs a task type`);
  if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}' for 'submit' (quote the payload JSON as one argument)`);
  if (payloadText !== undefined) {
    try {
      JSON.parse(payloadText);
    } catch (error) {
      throw new UsageError(`payload is not valid JSON: ${(error as Error).message}`);
    }
  }
  const priority = values.priority ?? 'medium';
  if (!isPriority(priority)) throw new UsageError(`--priority must be one of ${PRIORITIES.join(', ')} (got '${priority}')`);
  const input: SubmitInput = { type, payload: payloadText ?? '{}', priority };
  if (values.key !== undefined) {
    if (values.key === '') throw new UsageError('--key must not be empty');
    input.idempotencyKey = values.key;
  }
  if (values['delay-ms'] !== undefined) input.delayMs = toWholeNumber('delay-ms', values['delay-ms'], 0);
  if (values['max-attempts'] !== undefined) input.maxAttempts = toWholeNumber('max-attempts', values['max-attempts'], 0);
  if (values.meta !== undefined) input.metadata = toMetadata(values.meta);
  return { kind: 'submit', input, watch: values.watch ?? false, json: values.json ?? false };
}
