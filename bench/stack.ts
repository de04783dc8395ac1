// The stack a phase measures: the test stack (every bundle as `npm start` runs it, on the bench's
// own nats-server and redis-server), its processes by name for /proc reads, a wait for the
// pipeline to go quiet, and a stop that says which processes did not exit cleanly.
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { ALL_CONSUMERS } from '../shared/contract';
import { startTestStack, type TestStack } from '../test/helpers/stack';
import type { WatchedProcess } from './cpu';
import { toProfileArgs } from './profiles';

/** Environment of every process of a bench stack: per-event logging would be measured too. */
export const BENCH_ENV = { LOG_LEVEL: 'error' } as const;

export function startBenchStack(phase: string, profileDir: string | undefined): Promise<TestStack> {
  return startTestStack({ env: { ...BENCH_ENV }, nodeArgs: (spec) => toProfileArgs(profileDir, phase, spec.name) });
}

/** Every long-lived process of the stack (setup excluded: it has exited), nats-server and redis-server. */
export function stackProcesses(stack: TestStack): WatchedProcess[] {
  return [
    ...stack.specs.filter((spec) => !spec.oneShot).map((spec) => ({ name: spec.name, pid: stack.supervisor.pid(spec.name), counted: true })),
    { name: 'nats-server', pid: stack.nats.pid(), counted: true },
    { name: 'redis-server', pid: stack.redisServer.pid(), counted: true },
  ];
}

export type ProcessExit = { name: string; how: string; lastLines: string[] };

/** Processes that exited while the phase ran (the supervisor restarted them), each with its last
 * output lines (at LOG_LEVEL=error: its errors, or Node's own last words, e.g. out of memory). */
export function unexpectedExits(stack: TestStack): ProcessExit[] {
  return stack.supervisor.exits.map((exit) => ({
    name: exit.name,
    how: exit.signal ?? `exit ${exit.code}`,
    lastLines: stack.logs
      .filter((line) => line.startsWith(`[${exit.name}] `))
      .slice(-3)
      .map((line) => line.slice(0, 300)),
  }));
}

/** Stops the stack (SIGTERM, drain, exit: what writes a CPU profile); returns the processes that
 * did not exit with 0, e.g. killed at the end of the grace period. */
export async function stopBenchStack(stack: TestStack): Promise<string[]> {
  const exits = await stack.supervisor.stop(15_000);
  await stack.stop();
  return exits.filter((exit) => exit.code !== 0).map((exit) => `${exit.name} (${exit.signal ?? `exit ${exit.code}`})`);
}

/**
 * Waits until no JetStream consumer has a message waiting or unacknowledged: the trailing work of
 * the tasks just measured (audit records, status events) is done and counted. Resolves false when
 * it is still busy after `timeoutMs`.
 */
export async function waitForQuiet(nc: NatsConnection, timeoutMs = 60_000): Promise<boolean> {
  const jsm = await jetstreamManager(nc);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const infos = await Promise.all(ALL_CONSUMERS.map((consumer) => jsm.consumers.info(consumer.stream, consumer.durable)));
    if (infos.every((info) => info.num_pending === 0 && info.num_ack_pending === 0)) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
