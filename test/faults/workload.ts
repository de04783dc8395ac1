// What the fault scenarios share: a retry schedule long enough to outlive a process restart,
// a submitting client that retries with the same idempotency key (as a real caller would),
// waiting until every task is terminal, reading a source's gauges, and describing a broken task.
import type { Redis } from '../../shared/redis';
import { TaskManagerClientError, type SubmitInput, type TaskManagerClient } from '../../client/client';
import { KEYS } from '../../shared/contract';
import { toChannel } from '../../shared/redis';
import { waitFor } from '../helpers/ports';
import { startTestStack, type TestStack, type TestStackOptions } from '../helpers/stack';

/**
 * Scaled-down retry delays with the last attempt 15 s after the first: a killed process is back
 * (supervisor restart + Node start: seconds, but over ten on a loaded two-core machine) and a
 * 10 s Redis outage is over before the last attempt, as they are inside production's 51 s; a
 * function held down for good is still given up on within a test's patience.
 */
export const RESTART_PROOF_RETRIES = '1000,2000,4000,8000,8000';

/** Codes a caller may retry with the same idempotency key. Anything else is a real refusal. */
const RETRYABLE_SUBMIT_CODES = new Set(['UNAVAILABLE', 'CANCELLED', 'INTERNAL', 'DEADLINE_EXCEEDED', 'UNKNOWN', 'RESOURCE_EXHAUSTED']);

export type Submitted = { taskId: string; key: string; duplicate: boolean; failures: string[] };

/**
 * Submits until the gateway returns an id, retrying failures with the same idempotency key
 * after a short client backoff (what a real caller does; not a wait for a condition).
 */
export async function submitUntilAccepted(
  client: TaskManagerClient,
  input: SubmitInput & { idempotencyKey: string },
  deadlineMs = 60_000,
): Promise<Submitted> {
  const failures: string[] = [];
  const deadline = Date.now() + deadlineMs;
  for (let attempt = 1; ; attempt += 1) {
    try {
      const result = await client.submit(input);
      return { taskId: result.taskId, key: input.idempotencyKey, duplicate: result.duplicate, failures };
    } catch (error) {
      if (!(error instanceof TaskManagerClientError) || !RETRYABLE_SUBMIT_CODES.has(error.code)) throw error;
      failures.push(error.code);
      if (Date.now() > deadline) throw new Error(`submit ${input.idempotencyKey} kept failing: ${failures.join(', ')}`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, Math.min(50 * attempt, 500)));
    }
  }
}

/** Runs `work` over `items` with at most `limit` at a time; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await work(items[index] as T, index);
    }
  });
  await Promise.all(lanes);
  return results;
}

/** Current state of each task (undefined: no status), read in one pipeline. */
export async function readStates(redis: Redis, ids: readonly string[]): Promise<(string | undefined)[]> {
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.hget(KEYS.status(id), 'state');
  const replies = (await pipeline.exec()) ?? [];
  return replies.map(([error, value]) => (error ? undefined : ((value as string | null) ?? undefined)));
}

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED']);

/** Waits until every task has a terminal status; the error names the stragglers. */
export async function waitForTerminal(redis: Redis, ids: readonly string[], timeoutMs: number): Promise<void> {
  let open: string[] = [];
  await waitFor(
    `${ids.length} tasks to end terminal`,
    async () => {
      const states = await readStates(redis, ids);
      open = ids.flatMap((id, i) => (TERMINAL.has(states[i] ?? '') ? [] : [`${id}=${states[i] ?? 'no status'}`]));
      return open.length === 0;
    },
    timeoutMs,
    250,
  ).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}; ${open.length} not terminal, e.g. ${open.slice(0, 10).join(', ')}`);
  });
}

/** A source's delivery gauges from one read of its /metrics (NaN when one is missing). */
export async function readSourceGauges(port: number): Promise<{ inFlight: number; held: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const gauge = (name: string) => {
    const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}{`));
    return line ? Number(line.split(' ').at(-1)) : NaN;
  };
  return { inFlight: gauge('tm_source_in_flight'), held: gauge('tm_source_held') };
}

export type AuditEntry = { taskId: string; stage: string; action: string; attempt: number; detail: string; atMs: number };

export async function readAudit(redis: Redis): Promise<AuditEntry[]> {
  return (await redis.lrange(KEYS.auditEvents, 0, -1)).map((entry) => JSON.parse(entry) as AuditEntry);
}

export type DeadLetterEntry = { taskId: string; stage: string; reason: string; attempts: number; lastError: string };

export async function readDeadLetters(redis: Redis): Promise<DeadLetterEntry[]> {
  return (await redis.lrange(KEYS.deadLetter, 0, -1)).map((entry) => JSON.parse(entry) as DeadLetterEntry);
}

/** Redis channels still subscribed for task status streams (the gateway's, after streams end). */
export async function statusSubscriptions(redis: Redis): Promise<string[]> {
  return (await redis.pubsub('CHANNELS', `${toChannel(redis, KEYS.statusChannel(''))}*`)) as string[];
}

/** For a failing scenario: each task's history, dead letters and log lines, to see where it stopped. */
export async function describeTasks(redis: Redis, logs: readonly string[], ids: readonly string[]): Promise<string> {
  const letters = await readDeadLetters(redis);
  const parts: string[] = [];
  for (const id of ids.slice(0, 5)) {
    const history = (await redis.lrange(KEYS.history(id), 0, -1)).map((entry) => {
      const { seq, state, stage, attempt, progress } = JSON.parse(entry) as Record<string, unknown>;
      return `${String(seq)}:${String(state)}@${String(stage)}#${String(attempt)}/${String(progress)}`;
    });
    const mine = letters.filter((letter) => letter.taskId === id || JSON.stringify(letter).includes(id));
    const lines = logs.filter((line) => line.includes(id)).slice(0, 20);
    const audit = (await readAudit(redis)).filter((entry) => entry.taskId === id).map((entry) => `${entry.stage}:${entry.action}#${entry.attempt}`);
    const result = await redis.hgetall(KEYS.result(id));
    parts.push(
      `${id}\n  history ${history.join(' ')}\n  audit ${audit.reverse().join(' ')}\n  result attempt ${result.attempt ?? 'none'}` +
        `\n  dead letters ${JSON.stringify(mine).slice(0, 2000)}\n  logs\n    ${lines.join('\n    ')}`,
    );
  }
  return parts.join('\n');
}

let starting: Promise<TestStack> | undefined;

/** startTestStack for this test file, remembered so that `stopFaultStack` stops it even when it
 * came up after its hook timed out (a loaded machine): otherwise every process is orphaned. */
export function startFaultStack(options: TestStackOptions): Promise<TestStack> {
  starting = startTestStack(options);
  return starting;
}

export async function stopFaultStack(): Promise<void> {
  await starting?.then((stack) => stack.stop(), () => undefined);
}
