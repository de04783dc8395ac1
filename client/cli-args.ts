// `tm` argument parsing: argv → one validated Invocation, or a UsageError that names the problem
// and the command whose usage line to show. Pure (no I/O: the CA file is read by cli-main), so
// every rule is unit-tested; the server still validates everything it receives.
import { parseArgs } from 'node:util';
import { isPriority, PRIORITIES, TASK_STATES, type ListDeadLettersQuery, type ListTasksQuery, type ReplayQuery, type SubmitInput, type TaskState } from './types';

export const DEFAULT_ADDRESS = 'localhost:50051';

export const COMMAND_NAMES = ['submit', 'watch', 'get', 'result', 'cancel', 'list', 'dlq', 'audit', 'stats', 'pause', 'resume', 'types', 'demo'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export class UsageError extends Error {
  override readonly name = 'UsageError';
  /** The command whose usage line goes with the message (none: the general one). */
  readonly command: CommandName | undefined;

  constructor(message: string, command?: CommandName) {
    super(message);
    this.command = command;
  }
}

export type Command =
  | { kind: 'help'; topic: CommandName | undefined }
  | { kind: 'version' }
  | { kind: 'submit'; input: SubmitInput; watch: boolean }
  | { kind: 'watch'; taskId: string; fromStart: boolean }
  | { kind: 'get'; taskId: string }
  | { kind: 'result'; taskId: string }
  | { kind: 'cancel'; taskId: string }
  | { kind: 'types' }
  | { kind: 'list'; query: ListTasksQuery; limit: number }
  | { kind: 'dlq'; query: ListDeadLettersQuery; limit: number }
  | { kind: 'replay'; query: ReplayQuery }
  | { kind: 'audit'; taskId: string }
  | { kind: 'stats' }
  | { kind: 'pause' | 'resume'; queue: string }
  | { kind: 'demo'; count: number | undefined };

/** TLS to the gateway; `ca` names the CA file and where it was given (for error messages). */
export type TlsChoice = { ca: { path: string; from: '--ca' | 'TM_CA_FILE' } | undefined };

export type Invocation = {
  command: Command;
  address: string;
  token: string | undefined;
  protoPath: string | undefined;
  /** Machine-readable output: JSON lines on stdout, errors as JSON on stderr. */
  json: boolean;
  /** undefined = plaintext (h2c). */
  tls: TlsChoice | undefined;
  /** --insecure: a token may go to a remote address without TLS (with a warning). */
  insecure: boolean;
};

type CommandHelp = { synopsis: string; summary: string; details: string };

const COMMANDS: Record<CommandName, CommandHelp> = {
  submit: {
    synopsis: 'tm submit <type> [payload-json] [--priority low|medium|high] [--key K] [--delay-ms N] [--max-attempts N] [--meta k=v]... [--watch]',
    summary: 'submit a task; prints {taskId, state, duplicate}',
    details: `  <type>                 the task type (echo, sleep, hash, fail, flaky, or one you registered)
  [payload-json]         the payload as one JSON argument (quote it); default {}
  --priority P           low, medium or high; default medium
  --key K                idempotency key: the same key returns the same task (duplicate: true)
  --delay-ms N           run no earlier than now + N ms
  --max-attempts N       1..the type's limit (0 or absent: the type's limit; see tm types)
  --meta k=v             a metadata entry; repeatable
  --watch                then follow its status to the end (exit 0 only if it SUCCEEDED, else 3)`,
  },
  watch: {
    synopsis: 'tm watch <id> [--from-start]',
    summary: "follow a task's status until it ends",
    details: `  <id>                   the task id
  --from-start           replay the whole history first (default: the current state, then changes)
Exit 0 if the task SUCCEEDED, 3 if it ended otherwise (FAILED, CANCELLED, REJECTED).`,
  },
  get: { synopsis: 'tm get <id>', summary: 'task metadata, status and history as JSON', details: '  <id>                   the task id' },
  result: { synopsis: 'tm result <id>', summary: 'the result of a finished task as JSON (NOT_FOUND while none)', details: '  <id>                   the task id' },
  cancel: { synopsis: 'tm cancel <id>', summary: 'cancel a task that has not finished', details: '  <id>                   the task id' },
  list: {
    synopsis: 'tm list [--state S]... [--type T] [--priority P] [--limit N]',
    summary: 'your tasks, newest first: id, state, type, priority, created, attempts',
    details: `  --state S              only tasks in state S (QUEUED, RUNNING, SUCCEEDED, FAILED, …); repeatable
  --type T               only tasks of type T
  --priority P           only tasks of priority low, medium or high
  --limit N              at most N tasks (default 50), fetched page by page`,
  },
  dlq: {
    synopsis: 'tm dlq list [--type T] [--stage S] [--task ID] [--limit N] | tm dlq replay <id>... | tm dlq replay --all [--type T] [--stage S] [--task ID] [--dry-run]',
    summary: 'your dead letters, newest first (list), or run them again as new tasks (replay)',
    details: `  list                   one line each: id, task, type, stage, attempts, reason (replayed: the new task)
  replay <id>...         a new task for each dead letter (metadata replay_of = the dead task); again: the same task
  replay --all           every dead letter the filters match, in pages of 1000 until none is left
  --type T               only dead letters of tasks of type T
  --stage S              only those the stage S gave up on (worker, ingest, …)
  --task ID              only those of one task
  --limit N              list: at most N (default 50), fetched page by page; the cap's dropped count goes to stderr
  --dry-run              replay: say what would be replayed, change nothing`,
  },
  audit: {
    synopsis: 'tm audit <id>',
    summary: "a task's audit trail, oldest first: time, stage, action, attempt, detail",
    details: '  <id>                   the task id',
  },
  stats: {
    synopsis: 'tm stats',
    summary: 'queue depths (pending, in flight, oldest), paused queues, delayed tasks and your dead letters',
    details: '  queue figures are shown to operator tenants only (TM_OPERATOR_TENANTS on the gateway)',
  },
  pause: {
    synopsis: 'tm pause <queue>',
    summary: "stop a queue's sources pulling (in-flight work finishes); kept across restarts",
    details: '  <queue>                ingest, schedule, worker.high, worker.medium, worker.low, results, status, audit, deadletter',
  },
  resume: {
    synopsis: 'tm resume <queue>',
    summary: 'let a paused queue run again',
    details: '  <queue>                a paused queue (see tm stats)',
  },
  types: {
    synopsis: 'tm types',
    summary: 'the task types the deployment runs: built-ins and registered ones',
    details: '  one line per type: name, handler kind, timeout, attempts, retry delays, description (--json: one object per line)',
  },
  demo: {
    synopsis: 'tm demo [--count N]',
    summary: 'submit a mix of example tasks and show their progress live',
    details: '  --count N              submit N tasks taken from the mix in turn (default: the mix, 9 tasks)',
  },
};

const GLOBAL_HELP = `Global options:
  --address host:port    gateway address (env TM_ADDRESS, default ${DEFAULT_ADDRESS})
  --json                 machine-readable output: one JSON object per line; errors as JSON on stderr
  --tls                  connect with TLS, verifying the gateway against the system's CAs (env TM_TLS=1)
  --ca <file>            connect with TLS, verifying the gateway against this CA (PEM; env TM_CA_FILE)
  --insecure             send TM_TOKEN without TLS to a non-local address anyway (refused otherwise)
  -h, --help             help (also: tm help <command>)
  --version              the version of tm
Environment: TM_TOKEN (sent as a bearer token), TM_ADDRESS, TM_TLS, TM_CA_FILE, TM_PROTO_PATH.
Exit codes: 0 ok, 1 server or connection error, 2 usage error, 3 task ended but did not succeed, 130 interrupted.`;

export const USAGE_LINE = `Usage: tm <command> [options]   (commands: ${COMMAND_NAMES.join(', ')})`;

export const USAGE = `Usage: tm <command> [options]

Commands:
${COMMAND_NAMES.map((name) => `  ${name.padEnd(8)} ${COMMANDS[name].summary}`).join('\n')}
Run 'tm <command> --help' (or 'tm help <command>') for a command's arguments and options.

${GLOBAL_HELP}
`;

/** The one line an error is shown with. */
export function toUsageLine(command: CommandName | undefined): string {
  return command ? `Usage: ${COMMANDS[command].synopsis} [global options]` : USAGE_LINE;
}

/** `tm <command> --help`. */
export function toCommandHelp(command: CommandName): string {
  const help = COMMANDS[command];
  return `Usage: ${help.synopsis} [global options]

${help.summary[0]!.toUpperCase()}${help.summary.slice(1)}.
${help.details}

${GLOBAL_HELP}
`;
}

const OPTIONS = {
  address: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  json: { type: 'boolean' },
  tls: { type: 'boolean' },
  ca: { type: 'string' },
  insecure: { type: 'boolean' },
  priority: { type: 'string' },
  key: { type: 'string' },
  'delay-ms': { type: 'string' },
  'max-attempts': { type: 'string' },
  meta: { type: 'string', multiple: true },
  watch: { type: 'boolean' },
  'from-start': { type: 'boolean' },
  count: { type: 'string' },
  state: { type: 'string', multiple: true },
  stage: { type: 'string' },
  task: { type: 'string' },
  type: { type: 'string' },
  limit: { type: 'string' },
  all: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
} as const;

type OptionName = keyof typeof OPTIONS;

const COMMAND_OPTIONS: Record<CommandName, readonly OptionName[]> = {
  submit: ['priority', 'key', 'delay-ms', 'max-attempts', 'meta', 'watch'],
  watch: ['from-start'],
  get: [],
  result: [],
  cancel: [],
  list: ['state', 'type', 'priority', 'limit'],
  dlq: ['type', 'stage', 'task', 'limit', 'all', 'dry-run'],
  audit: [],
  stats: [],
  pause: [],
  resume: [],
  types: [],
  demo: ['count'],
};
const GLOBAL_OPTIONS: readonly OptionName[] = ['address', 'help', 'version', 'json', 'tls', 'ca', 'insecure'];

function isCommandName(name: string | undefined): name is CommandName {
  return name !== undefined && Object.hasOwn(COMMAND_OPTIONS, name);
}

function isOptionName(name: string): name is OptionName {
  return Object.hasOwn(OPTIONS, name);
}

function toWholeNumber(option: string, text: string, min: number, command: CommandName): number {
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text)) || Number(text) < min) {
    throw new UsageError(`--${option} must be a whole number${min > 0 ? ` >= ${min}` : ''} (got '${text}')`, command);
  }
  return Number(text);
}

function toMetadata(entries: readonly string[]): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new UsageError(`--meta expects key=value (got '${entry}')`, 'submit');
    metadata[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return metadata;
}

function requireTaskId(command: CommandName, positionals: readonly string[]): string {
  if (positionals.length === 0) throw new UsageError(`'${command}' needs a task id: missing <id>`, command);
  if (positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1]}' for '${command}'`, command);
  const value = positionals[0]!;
  if (value.trim() === '') throw new UsageError('the task id must not be empty', command);
  return value;
}

/** The host of a gRPC target (`host:port`, `[v6]:port`, `dns:///host:port`, `ipv4:…`), or 'unix' for a socket. */
export function toTargetHost(address: string): string {
  let rest = address.trim();
  if (/^unix(-abstract)?:/.test(rest)) return 'unix';
  const scheme = /^(?:dns|ipv4|ipv6):(?:\/\/[^/]*\/)?/.exec(rest);
  if (scheme) rest = rest.slice(scheme[0].length).split(',')[0]!;
  if (rest.startsWith('[')) return rest.slice(1, rest.indexOf(']') === -1 ? undefined : rest.indexOf(']'));
  const parts = rest.split(':');
  return parts.length > 2 ? rest : parts[0]!;
}

/** A target on this machine: a token sent there in clear text never crosses a network. */
export function isLoopbackAddress(address: string): boolean {
  const host = toTargetHost(address).toLowerCase();
  return (
    host === 'unix' ||
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) ||
    host === '::1' ||
    host === '0:0:0:0:0:0:0:1'
  );
}

type Env = Readonly<Record<string, string | undefined>>;
type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: false }>>['values'];

/**
 * Options and positionals, with our own checks instead of parseArgs' strict mode (whose messages
 * name no command and suggest `--`). The command is the first positional; options may come
 * before or after it.
 */
function readArgs(argv: readonly string[]): { values: Values; positionals: string[] } {
  const { values, positionals, tokens } = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: false, tokens: true });
  const command = isCommandName(positionals[0]) ? positionals[0] : undefined;
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    if (!isOptionName(token.name)) throw new UsageError(`unknown option ${token.rawName}`, command);
    const type = OPTIONS[token.name].type;
    if (type === 'string' && token.value === undefined) throw new UsageError(`option ${token.rawName} needs a value`, command);
    if (type === 'boolean' && token.value !== undefined) throw new UsageError(`option ${token.rawName} takes no value`, command);
  }
  return { values, positionals };
}

function readBool(env: Env, name: string): boolean {
  const value = env[name]?.trim().toLowerCase();
  if (value === undefined || value === '') return false;
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off'].includes(value)) return false;
  throw new UsageError(`${name} must be 1/true/yes/on or 0/false/no/off (got '${env[name]}')`);
}

function toTlsChoice(values: Values, env: Env): TlsChoice | undefined {
  const ca = typeof values.ca === 'string' ? values.ca : undefined;
  if (ca !== undefined && ca.trim() === '') throw new UsageError('--ca must not be empty');
  const envCa = env.TM_CA_FILE?.trim() || undefined;
  const caFile = ca !== undefined ? { path: ca, from: '--ca' as const } : envCa !== undefined ? { path: envCa, from: 'TM_CA_FILE' as const } : undefined;
  const enabled = values.tls === true || caFile !== undefined || readBool(env, 'TM_TLS');
  return enabled ? { ca: caFile } : undefined;
}

export function parseCli(argv: readonly string[], env: Env): Invocation {
  const { values, positionals } = readArgs(argv);
  const json = values.json === true;

  const [name, ...rest] = positionals;
  const base = { json, insecure: values.insecure === true };
  if (values.help === true || name === 'help') {
    const topic = name === 'help' ? rest[0] : name;
    if (name === 'help' && topic !== undefined && !isCommandName(topic)) throw new UsageError(`unknown command '${topic}' (expected ${COMMAND_NAMES.join(', ')})`);
    return { ...base, address: DEFAULT_ADDRESS, token: undefined, protoPath: undefined, tls: undefined, command: { kind: 'help', topic: isCommandName(topic) ? topic : undefined } };
  }
  if (values.version === true) {
    return { ...base, address: DEFAULT_ADDRESS, token: undefined, protoPath: undefined, tls: undefined, command: { kind: 'version' } };
  }
  if (name === undefined) throw new UsageError(`missing command (${COMMAND_NAMES.join(', ')})`);
  if (!isCommandName(name)) throw new UsageError(`unknown command '${name}' (expected ${COMMAND_NAMES.join(', ')})`);

  const allowed = new Set<string>([...GLOBAL_OPTIONS, ...COMMAND_OPTIONS[name]]);
  const misplaced = Object.keys(values).find((option) => !allowed.has(option));
  if (misplaced) throw new UsageError(`option --${misplaced} does not apply to '${name}'`, name);

  const address = typeof values.address === 'string' ? values.address : (env.TM_ADDRESS ?? DEFAULT_ADDRESS);
  if (address.trim() === '') throw new UsageError('--address must not be empty', name);
  const tls = toTlsChoice(values, env);
  const token = env.TM_TOKEN || undefined;
  if (base.insecure && tls) {
    throw new UsageError('--insecure lets TM_TOKEN travel without TLS; it does not apply with TLS (--tls, --ca, TM_TLS, TM_CA_FILE), whose certificates are always verified', name);
  }
  if (token && !tls && !base.insecure && !isLoopbackAddress(address)) {
    throw new UsageError(
      `refusing to send TM_TOKEN without TLS to ${address} (not this machine): add --tls, or --ca <file> for a private CA ` +
        '(TM_TLS=1, TM_CA_FILE); --insecure sends it in clear text anyway',
      name,
    );
  }
  const invocation = { ...base, address, token, protoPath: env.TM_PROTO_PATH || undefined, tls };

  switch (name) {
    case 'submit':
      return { ...invocation, command: toSubmitCommand(rest, values) };
    case 'watch':
      return { ...invocation, command: { kind: 'watch', taskId: requireTaskId(name, rest), fromStart: values['from-start'] === true } };
    case 'get':
    case 'result':
    case 'cancel':
      return { ...invocation, command: { kind: name, taskId: requireTaskId(name, rest) } };
    case 'list':
      if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}' for 'list'`, name);
      return { ...invocation, command: toListCommand(values) };
    case 'dlq':
      return { ...invocation, command: toDeadLettersCommand(rest[0], rest.slice(1), values) };
    case 'audit':
      return { ...invocation, command: { kind: 'audit', taskId: requireTaskId(name, rest) } };
    case 'stats':
      if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}' for 'stats'`, name);
      return { ...invocation, command: { kind: 'stats' } };
    case 'pause':
    case 'resume':
      return { ...invocation, command: { kind: name, queue: requireQueue(name, rest) } };
    case 'types':
      if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}' for 'types'`, name);
      return { ...invocation, command: { kind: 'types' } };
    case 'demo':
      if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}' for 'demo'`, name);
      return {
        ...invocation,
        command: { kind: 'demo', count: typeof values.count === 'string' ? toWholeNumber('count', values.count, 1, name) : undefined },
      };
  }
}

function toSubmitCommand(positionals: string[], values: Values): Command {
  const [type, payloadText, extra] = positionals;
  if (type === undefined || type.trim() === '') throw new UsageError(`'submit' needs a task type: missing <type>`, 'submit');
  if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}' for 'submit' (quote the payload JSON as one argument)`, 'submit');
  if (payloadText !== undefined) {
    try {
      JSON.parse(payloadText);
    } catch (error) {
      throw new UsageError(`payload is not valid JSON: ${(error as Error).message}`, 'submit');
    }
  }
  const priority = typeof values.priority === 'string' ? values.priority : 'medium';
  if (!isPriority(priority)) throw new UsageError(`--priority must be one of ${PRIORITIES.join(', ')} (got '${priority}')`, 'submit');
  const input: SubmitInput = { type, payload: payloadText ?? '{}', priority };
  if (typeof values.key === 'string') {
    if (values.key === '') throw new UsageError('--key must not be empty', 'submit');
    input.idempotencyKey = values.key;
  }
  if (typeof values['delay-ms'] === 'string') input.delayMs = toWholeNumber('delay-ms', values['delay-ms'], 0, 'submit');
  if (typeof values['max-attempts'] === 'string') input.maxAttempts = toWholeNumber('max-attempts', values['max-attempts'], 0, 'submit');
  if (values.meta !== undefined) input.metadata = toMetadata(values.meta.filter((entry): entry is string => typeof entry === 'string'));
  return { kind: 'submit', input, watch: values.watch === true };
}

function toListCommand(values: Values): Command {
  const query: ListTasksQuery = {};
  const states = (values.state ?? []).filter((entry): entry is string => typeof entry === 'string').map((state) => state.toUpperCase());
  const unknown = states.filter((state) => !(TASK_STATES as readonly string[]).includes(state) || state === 'TASK_STATE_UNSPECIFIED');
  if (unknown.length > 0) throw new UsageError(`--state must be one of ${TASK_STATES.slice(1).join(', ')} (got '${unknown[0]}')`, 'list');
  if (states.length > 0) query.states = states as TaskState[];
  if (typeof values.type === 'string') {
    if (values.type.trim() === '') throw new UsageError('--type must not be empty', 'list');
    query.type = values.type;
  }
  if (typeof values.priority === 'string') {
    if (!isPriority(values.priority)) throw new UsageError(`--priority must be one of ${PRIORITIES.join(', ')} (got '${values.priority}')`, 'list');
    query.priority = values.priority;
  }
  const limit = typeof values.limit === 'string' ? toWholeNumber('limit', values.limit, 1, 'list') : 50;
  return { kind: 'list', query, limit };
}

function toDeadLetterFilters(values: Values): ListDeadLettersQuery {
  const query: ListDeadLettersQuery = {};
  for (const [option, field] of [['type', 'type'], ['stage', 'stage'], ['task', 'taskId']] as const) {
    const value = values[option];
    if (typeof value !== 'string') continue;
    if (value.trim() === '') throw new UsageError(`--${option} must not be empty`, 'dlq');
    query[field] = value;
  }
  return query;
}

function toDeadLettersCommand(subcommand: string | undefined, ids: readonly string[], values: Values): Command {
  if (subcommand === 'list') {
    if (ids.length > 0) throw new UsageError(`unexpected argument '${ids[0]}' for 'dlq list'`, 'dlq');
    if (values.all !== undefined || values['dry-run'] !== undefined) throw new UsageError(`--${values.all !== undefined ? 'all' : 'dry-run'} applies to 'dlq replay', not 'dlq list'`, 'dlq');
    const limit = typeof values.limit === 'string' ? toWholeNumber('limit', values.limit, 1, 'dlq') : 50;
    return { kind: 'dlq', query: toDeadLetterFilters(values), limit };
  }
  if (subcommand !== 'replay') {
    throw new UsageError(subcommand === undefined ? "'dlq' needs a subcommand: list or replay" : `unknown subcommand '${subcommand}' for 'dlq' (expected list or replay)`, 'dlq');
  }
  if (values.limit !== undefined) throw new UsageError("--limit applies to 'dlq list', not 'dlq replay'", 'dlq');
  const filters = toDeadLetterFilters(values);
  const dryRun = values['dry-run'] === true;
  if (values.all === true) {
    if (ids.length > 0) throw new UsageError('give dead-letter ids or --all, not both', 'dlq');
    return { kind: 'replay', query: { ...filters, dryRun } };
  }
  if (ids.length === 0) throw new UsageError("'dlq replay' needs dead-letter ids, or --all (with filters) for every match", 'dlq');
  if (Object.keys(filters).length > 0) throw new UsageError('--type, --stage and --task go with --all, not with ids', 'dlq');
  if (ids.some((id) => id.trim() === '')) throw new UsageError('a dead-letter id must not be empty', 'dlq');
  return { kind: 'replay', query: { ids: [...ids], dryRun } };
}

function requireQueue(command: 'pause' | 'resume', positionals: readonly string[]): string {
  if (positionals.length === 0) throw new UsageError(`'${command}' needs a queue: missing <queue>`, command);
  if (positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1]}' for '${command}'`, command);
  return positionals[0]!;
}
