// The `tm` command as a function: argv and I/O are injected, the exit code is returned, so tests
// run it in-process against a fake server. client/cli.ts is the process entry around it.
import { createTaskManagerClient, type TaskManagerClient } from './client';
import { parseCli, USAGE, UsageError, type Command } from './cli-args';
import { runDemo, summarize } from './demo';
import { TaskManagerClientError } from './errors';
import type { StatusUpdate } from './types';

export type CliOutput = { write(chunk: string): unknown; isTTY?: boolean; columns?: number };

export type CliIo = {
  stdout: CliOutput;
  stderr: { write(chunk: string): unknown };
  env: Readonly<Record<string, string | undefined>>;
  /** Aborted on Ctrl-C: watches stop, the command exits 130. */
  signal?: AbortSignal;
};

export const EXIT = { ok: 0, error: 1, usage: 2, taskDidNotSucceed: 3, interrupted: 130 } as const;

export function formatUpdate(update: StatusUpdate): string {
  const parts = [`#${update.seq}`, update.state.padEnd(9), `stage=${update.stage || '-'}`];
  if (update.attempt > 0) parts.push(`attempt=${update.attempt}`);
  if (update.state === 'RUNNING' || update.progress > 0) parts.push(`progress=${update.progress}%`);
  if (update.message) parts.push(`message=${JSON.stringify(update.message)}`);
  return parts.join(' ');
}

const toJson = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  let invocation;
  try {
    invocation = parseCli(argv, io.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`tm: ${error.message}\nRun 'tm --help' for usage.\n`);
    return EXIT.usage;
  }
  if (invocation.command.kind === 'help') {
    io.stdout.write(USAGE);
    return EXIT.ok;
  }
  let client: TaskManagerClient | undefined;
  try {
    client = createTaskManagerClient({ address: invocation.address, token: invocation.token, protoPath: invocation.protoPath });
    return await run(client, invocation.command, io);
  } catch (error) {
    if (error instanceof TaskManagerClientError) {
      io.stderr.write(`tm: ${error.code}: ${error.details}\n`);
    } else {
      io.stderr.write(`tm: ${(error as Error).message ?? String(error)}\n`);
    }
    return EXIT.error;
  } finally {
    client?.close();
  }
}

async function run(client: TaskManagerClient, command: Exclude<Command, { kind: 'help' }>, io: CliIo): Promise<number> {
  switch (command.kind) {
    case 'submit': {
      const submitted = await client.submit(command.input);
      io.stdout.write(`${JSON.stringify(submitted)}\n`);
      return command.watch ? follow(client, submitted.taskId, 0, command.json, io) : EXIT.ok;
    }
    case 'watch':
      return follow(client, command.taskId, command.fromStart ? 0 : undefined, command.json, io);
    case 'get':
      io.stdout.write(toJson(await client.getTask(command.taskId)));
      return EXIT.ok;
    case 'result':
      io.stdout.write(toJson(await client.getResult(command.taskId)));
      return EXIT.ok;
    case 'cancel':
      io.stdout.write(`${JSON.stringify(await client.cancel(command.taskId))}\n`);
      return EXIT.ok;
    case 'demo': {
      const result = await runDemo(client, io.stdout, { count: command.count, signal: io.signal });
      io.stdout.write(`summary: ${summarize(result.rows)}\n`);
      if (io.signal?.aborted) return EXIT.interrupted;
      return result.allTerminal ? EXIT.ok : EXIT.error;
    }
  }
}

async function follow(client: TaskManagerClient, taskId: string, afterSeq: number | undefined, json: boolean, io: CliIo): Promise<number> {
  let last: StatusUpdate | undefined;
  for await (const update of client.watch(taskId, { afterSeq, signal: io.signal })) {
    last = update;
    io.stdout.write(json ? `${JSON.stringify(update)}\n` : `${formatUpdate(update)}\n`);
  }
  if (io.signal?.aborted || !last) return EXIT.interrupted;
  return last.state === 'SUCCEEDED' ? EXIT.ok : EXIT.taskDidNotSucceed;
}
