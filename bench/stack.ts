// The stack a phase measures: the test stack (every bundle as `npm start` runs it, on the bench's
// own nats-server and redis-server), its processes by name for /proc reads, a wait for the
// pipeline to go quiet, and a stop that says which processes did not exit cleanly.
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { ALL_CONSUMERS } from '../shared/contract';
import { FUNCTIONS } from '../shared/topology';
import { sourceName } from '../scripts/local-stack';
import { getFreePort } from '../test/helpers/ports';
import { startTestStack, type TestStack } from '../test/helpers/stack';
import type { BenchConfig } from './config';
import type { WatchedProcess } from './cpu';
import { toProfileArgs } from './profiles';

/** Environment of every process of a bench stack: per-event logging would be measured too. */
export const BENCH_ENV = { LOG_LEVEL: 'error' } as const;

/** How often a stack with metrics on is scraped: Prometheus's interval in the deployments. */
export const SCRAPE_INTERVAL_MS = 15_000;

const scrapers = new WeakMap<TestStack, () => void>();

/** A stack for one phase; with `metrics`, every process records metrics (TM_METRICS=prometheus)
 * and is scraped every SCRAPE_INTERVAL_MS while the stack runs, as Prometheus would. */
/** How a phase's stack runs (BenchConfig's BENCH_PROFILE, BENCH_METRICS, BENCH_SEPARATE_SOURCES). */
export type BenchStackOptions = Pick<BenchConfig, 'profileDir' | 'metrics' | 'separateSources'>;

export async function startBenchStack(phase: string, { profileDir, metrics, separateSources }: BenchStackOptions): Promise<TestStack> {
  const gatewayMetricsPort = metrics ? await getFreePort() : 0;
  const stack = await startTestStack({
    env: { ...BENCH_ENV, ...(metrics ? { TM_METRICS: 'prometheus' } : {}) },
    ...(metrics ? { processEnv: { gateway: { TM_METRICS_PORT: String(gatewayMetricsPort) } } } : {}),
    nodeArgs: (spec) => toProfileArgs(profileDir, phase, spec.name),
    // As `npm start` runs them, unless asked otherwise.
    hostSources: !separateSources,
  });
  if (metrics) scrapers.set(stack, startScraper(metricsUrls(stack, gatewayMetricsPort)));
  return stack;
}

function metricsUrls(stack: TestStack, gatewayMetricsPort: number): string[] {
  const ports = [gatewayMetricsPort];
  for (const fn of FUNCTIONS) {
    ports.push(stack.ports[fn.name]!);
    if (fn.sourcePort) ports.push(stack.ports[sourceName(fn)]!);
  }
  return ports.map((port) => `http://127.0.0.1:${port}/metrics`);
}

/** Scrapes every URL now and every SCRAPE_INTERVAL_MS; returns the stop. A failed scrape is
 * ignored: the bench measures its cost, not its answers. */
function startScraper(urls: readonly string[]): () => void {
  const scrape = () => {
    for (const url of urls) void fetch(url).then((response) => response.text(), () => undefined);
  };
  scrape();
  const timer = setInterval(scrape, SCRAPE_INTERVAL_MS);
  return () => clearInterval(timer);
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
  scrapers.get(stack)?.();
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
