// The `tm` command as a function: argv and I/O are injected, the exit code is returned, so tests
// run it in-process against a fake server. client/cli.ts is the process entry around it.
import { readFileSync } from 'node:fs';
import { createTaskManagerClient, type TaskManagerClient, type TlsOptions } from './client';
import { isLoopbackAddress, parseCli, toCommandHelp, toUsageLine, USAGE, UsageError, type Command, type Invocation } from './cli-args';
import { printAudit, printReplay, printStats } from './cli-operate';
import { replayEveryPage } from './replay-pages';
import { runDemo, summarize, toStateCounts } from './demo';
import { TaskManagerClientError } from './errors';
import type { DeadLetter, ListDeadLettersQuery, ListTasksQuery, StatusUpdate, Task, TaskType } from './types';

export type CliOutput = { write(chunk: string): unknown; isTTY?: boolean; columns?: number };

export type CliIo = {
  stdout: CliOutput;
  stderr: { write(chunk: string): unknown };
  env: Readonly<Record<string, string | undefined>>;
  /** Aborted on Ctrl-C: watches stop, the command exits 130. */
  signal?: AbortSignal;
  /** What `tm --version` prints (the entry passes package.json's version). */
  version?: string;
  /** Reads the --ca / TM_CA_FILE file (default: the file system). */
  readFile?: (path: string) => Buffer;
};

export const EXIT = { ok: 0, error: 1, usage: 2, taskDidNotSucceed: 3, interrupted: 130 } as const;

export function formatUpdate(update: StatusUpdate): string {
  const parts = [`#${update.seq}`, update.state.padEnd(9), `stage=${update.stage || '-'}`];
  if (update.attempt > 0) parts.push(`attempt=${update.attempt}`);
  if (update.state === 'RUNNING' || update.progress > 0) parts.push(`progress=${update.progress}%`);
  if (update.message) parts.push(`message=${JSON.stringify(update.message)}`);
  return parts.join(' ');
}

type Page<T> = { items: T[]; nextPageToken: string | undefined };

/** Pages through a listing until `limit` items or its end (`toPage` reads each page as it comes). */
async function* upTo<T, P>(fetchPage: (pageSize: number, pageToken: string | undefined) => Promise<P>, toPage: (page: P) => Page<T>, limit: number): AsyncGenerator<T> {
  let shown = 0;
  let pageToken: string | undefined;
  do {
    const page = toPage(await fetchPage(Math.min(limit - shown, 1000), pageToken));
    for (const item of page.items.slice(0, limit - shown)) {
      shown += 1;
      yield item;
    }
    pageToken = page.nextPageToken;
  } while (pageToken && shown < limit);
}

function listUpTo(client: TaskManagerClient, query: ListTasksQuery, limit: number): AsyncGenerator<Task> {
  return upTo((pageSize, pageToken) => client.listTasks({ ...query, pageSize, pageToken }), (page) => ({ items: page.tasks, nextPageToken: page.nextPageToken }), limit);
}

/** Pages through the caller's dead letters up to `limit`; the cap's dropped count goes to stderr. */
async function listDeadLetters(client: TaskManagerClient, query: ListDeadLettersQuery, limit: number, json: boolean, io: CliIo): Promise<number> {
  let dropped = 0;
  const letters = upTo(
    (pageSize, pageToken) => client.listDeadLetters({ ...query, pageSize, pageToken }),
    (page) => {
      dropped = page.dropped;
      return { items: page.deadLetters, nextPageToken: page.nextPageToken };
    },
    limit,
  );
  for await (const letter of letters) io.stdout.write(json ? toJsonLine(letter) : `${formatDeadLetterRow(letter)}\n`);
  if (dropped > 0) io.stderr.write(json ? toJsonLine({ dropped }) : `tm: ${dropped} older dead letter(s) were dropped by the per-tenant cap\n`);
  return EXIT.ok;
}

/** `<id>  task=<id>  fail  worker  attempts=5  2026-…Z  failed after 5 attempts: boom` */
export function formatDeadLetterRow(letter: DeadLetter): string {
  const when = new Date(letter.deadLetteredAtMs).toISOString();
  return [letter.id, `task=${letter.taskId || '-'}`, letter.type || '-', letter.stage, `attempts=${letter.attempts}`, when, `${letter.reason}: ${letter.lastError}`].join('  ');
}

/** `<id>  SUCCEEDED  echo  medium  2026-12-04T01:02:03.004Z  attempts=1` */
export function formatTaskRow(task: Task): string {
  const state = task.status?.state ?? 'QUEUED';
  return [task.taskId, state.padEnd(9), task.type, task.priority.padEnd(6), new Date(task.createdAtMs).toISOString(), `attempts=${task.attempts}`].join('  ');
}

/** `resize  http  timeout=30000ms  attempts=3  retry=[100,200]  makes thumbnails` */
export function formatTaskType(type: TaskType): string {
  const retry = type.retryDelaysMs.length > 0 ? `retry=[${type.retryDelaysMs.join(',')}]ms` : 'retry=default';
  return [type.name.padEnd(12), type.handler.padEnd(7), `timeout=${type.timeoutMs}ms`, `attempts=${type.maxAttempts}`, retry, type.description].join('  ');
}

const toPrettyJson = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
const toJsonLine = (value: unknown) => `${JSON.stringify(value)}\n`;

/** `--json` anywhere before `--`: usage errors are reported as JSON even when parsing failed. */
function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

/** grpc-js connection errors span lines and end in an empty "Resolution note:". */
function toOneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ').replace(/\s*Resolution note:\s*$/, '').trim();
}

/** A failure as `tm: …` lines, or as one JSON object `{"error": {code, message, …}}` on stderr. */
function reportError(io: CliIo, json: boolean, error: { code: string; message: string; hint?: string; usage?: string }): void {
  if (json) {
    io.stderr.write(toJsonLine({ error }));
    return;
  }
  const prefix = error.code === 'USAGE' || error.code === 'CLIENT_ERROR' ? '' : `${error.code}: `;
  io.stderr.write(`tm: ${prefix}${error.message}\n`);
  if (error.hint) io.stderr.write(`tm: hint: ${error.hint}\n`);
  if (error.usage) io.stderr.write(`${error.usage}\n`);
}

function reportUsageError(io: CliIo, json: boolean, error: UsageError): number {
  const more = `Run 'tm${error.command ? ` ${error.command}` : ''} --help' for details.`;
  reportError(io, json, { code: 'USAGE', message: error.message, usage: json ? toUsageLine(error.command) : `${toUsageLine(error.command)}\n${more}` });
  return EXIT.usage;
}

/**
 * What a connection failure most likely means, when grpc-js only says that no connection came
 * about: TLS on one side only, or a certificate the client does not trust.
 */
export function toConnectionHint(error: TaskManagerClientError, tls: boolean): string | undefined {
  if (error.code !== 'UNAVAILABLE') return undefined;
  const details = error.details;
  if (tls && /wrong version number|packet length too long|unknown protocol/i.test(details)) {
    return 'the gateway does not speak TLS on this port: drop --tls/--ca (and TM_TLS, TM_CA_FILE)';
  }
  if (tls && /certificate|altnames|self[- ]signed|issuer/i.test(details)) {
    return "the gateway's certificate is not trusted for this address: pass the CA that signed it with --ca <file> (TM_CA_FILE), and connect to a name the certificate holds";
  }
  if (!tls && /Failed to connect|Connection dropped|Protocol error|ECONNRESET|socket hang up/i.test(details)) {
    return 'the connection was refused at the protocol level: if the gateway serves TLS, add --tls (or --ca <file> for a private CA)';
  }
  return undefined;
}

function toClientTls(invocation: Invocation, readFile: (path: string) => Buffer): TlsOptions | undefined {
  const choice = invocation.tls;
  if (!choice) return undefined;
  if (!choice.ca) return {};
  try {
    return { ca: readFile(choice.ca.path) };
  } catch (error) {
    throw new UsageError(`${choice.ca.from}: cannot read '${choice.ca.path}': ${(error as Error).message}`, commandNameOf(invocation.command));
  }
}

function commandNameOf(command: Command): UsageError['command'] {
  if (command.kind === 'help' || command.kind === 'version') return undefined;
  return command.kind === 'replay' ? 'dlq' : command.kind;
}

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  let invocation: Invocation;
  let tls: TlsOptions | undefined;
  try {
    invocation = parseCli(argv, io.env);
    tls = toClientTls(invocation, io.readFile ?? ((path) => readFileSync(path)));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return reportUsageError(io, wantsJson(argv), error);
  }
  const { command, json } = invocation;
  if (command.kind === 'help') {
    io.stdout.write(command.topic ? toCommandHelp(command.topic) : USAGE);
    return EXIT.ok;
  }
  if (command.kind === 'version') {
    const version = io.version ?? 'unknown';
    io.stdout.write(json ? toJsonLine({ version }) : `tm ${version}\n`);
    return EXIT.ok;
  }
  if (invocation.token && !tls && !isLoopbackAddress(invocation.address)) {
    // Only reached with --insecure (parseCli refuses it otherwise): said every time, on stderr.
    const warning = `sending TM_TOKEN without TLS to ${invocation.address} (--insecure): anyone on the path can read it`;
    io.stderr.write(json ? toJsonLine({ warning: { code: 'INSECURE_TOKEN', message: warning } }) : `tm: warning: ${warning}\n`);
  }
  let client: TaskManagerClient | undefined;
  try {
    client = createTaskManagerClient({ address: invocation.address, token: invocation.token, protoPath: invocation.protoPath, tls });
    return await run(client, command, json, io);
  } catch (error) {
    if (error instanceof TaskManagerClientError) {
      reportError(io, json, { code: error.code, message: toOneLine(error.details), hint: toConnectionHint(error, tls !== undefined) });
    } else {
      reportError(io, json, { code: 'CLIENT_ERROR', message: (error as Error).message ?? String(error) });
    }
    return EXIT.error;
  } finally {
    client?.close();
  }
}

type RunnableCommand = Exclude<Command, { kind: 'help' } | { kind: 'version' }>;

async function run(client: TaskManagerClient, command: RunnableCommand, json: boolean, io: CliIo): Promise<number> {
  const document = json ? toJsonLine : toPrettyJson;
  switch (command.kind) {
    case 'submit': {
      const submitted = await client.submit(command.input);
      io.stdout.write(toJsonLine(submitted));
      return command.watch ? follow(client, submitted.taskId, 0, json, io) : EXIT.ok;
    }
    case 'watch':
      return follow(client, command.taskId, command.fromStart ? 0 : undefined, json, io);
    case 'get':
      io.stdout.write(document(await client.getTask(command.taskId)));
      return EXIT.ok;
    case 'result':
      io.stdout.write(document(await client.getResult(command.taskId)));
      return EXIT.ok;
    case 'cancel':
      io.stdout.write(toJsonLine(await client.cancel(command.taskId)));
      return EXIT.ok;
    case 'list':
      for await (const task of listUpTo(client, command.query, command.limit)) io.stdout.write(json ? toJsonLine(task) : `${formatTaskRow(task)}\n`);
      return EXIT.ok;
    case 'dlq':
      return listDeadLetters(client, command.query, command.limit, json, io);
    case 'replay':
      printReplay(await replayEveryPage((query) => client.replayDeadLetters(query), command.query), command.query.dryRun === true, json, io.stdout);
      return EXIT.ok;
    case 'audit':
      await printAudit(client, command.taskId, json, io.stdout);
      return EXIT.ok;
    case 'stats':
      printStats(await client.getQueueStats(), json, io.stdout);
      return EXIT.ok;
    case 'pause':
      io.stdout.write(toJsonLine(await client.pauseQueue(command.queue)));
      return EXIT.ok;
    case 'resume':
      io.stdout.write(toJsonLine(await client.resumeQueue(command.queue)));
      return EXIT.ok;
    case 'types':
      for (const type of await client.listTaskTypes()) io.stdout.write(json ? toJsonLine(type) : `${formatTaskType(type)}\n`);
      return EXIT.ok;
    case 'demo': {
      const result = await runDemo(client, io.stdout, { count: command.count, signal: io.signal, json });
      io.stdout.write(json ? toJsonLine({ summary: { tasks: result.rows.length, states: toStateCounts(result.rows) } }) : `summary: ${summarize(result.rows)}\n`);
      if (io.signal?.aborted) return EXIT.interrupted;
      return result.allTerminal ? EXIT.ok : EXIT.error;
    }
  }
}

async function follow(client: TaskManagerClient, taskId: string, afterSeq: number | undefined, json: boolean, io: CliIo): Promise<number> {
  let last: StatusUpdate | undefined;
  for await (const update of client.watch(taskId, { afterSeq, signal: io.signal })) {
    last = update;
    io.stdout.write(json ? toJsonLine(update) : `${formatUpdate(update)}\n`);
  }
  if (io.signal?.aborted || !last) return EXIT.interrupted;
  return last.state === 'SUCCEEDED' ? EXIT.ok : EXIT.taskDidNotSucceed;
}
