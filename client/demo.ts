// `tm demo`: submits a mix of example tasks and follows them all live. The task mix, the row
// model and the rendering are pure; runDemo does the I/O (client calls, writes to stdout).
import type { TaskManagerClient } from './client';
import { toClientError } from './errors';
import { isTerminalState, type StatusUpdate, type SubmitInput } from './types';

type DemoClient = Pick<TaskManagerClient, 'submit' | 'watch'>;

export type DemoTask = { label: string; input: SubmitInput };

/** One of each path through the pipeline: fast types, sleeps of various lengths (progress),
 *  a delayed task, a flaky one that succeeds after retries, one that fails for good after two
 *  attempts, and an unknown type that ingest REJECTS. */
export const DEMO_MIX: readonly DemoTask[] = [
  { label: 'echo', input: { type: 'echo', payload: { hello: 'taskmanager' }, priority: 'high' } },
  { label: 'hash', input: { type: 'hash', payload: { data: 'The quick brown fox' }, priority: 'medium' } },
  { label: 'sleep 0.5s', input: { type: 'sleep', payload: { ms: 500 }, priority: 'low' } },
  { label: 'sleep 2s', input: { type: 'sleep', payload: { ms: 2_000 }, priority: 'medium' } },
  { label: 'sleep 4s', input: { type: 'sleep', payload: { ms: 4_000 }, priority: 'high' } },
  { label: 'echo +1.5s delay', input: { type: 'echo', payload: { delayed: true }, priority: 'low', delayMs: 1_500 } },
  { label: 'flaky x2', input: { type: 'flaky', payload: { failures: 2 }, priority: 'medium' } },
  { label: 'fail', input: { type: 'fail', payload: { message: 'demo failure' }, priority: 'low', maxAttempts: 2 } },
  { label: 'unknown type', input: { type: 'no-such-type', payload: {}, priority: 'medium' } },
];

/** `count` tasks taken round-robin from the mix (all of it by default). */
export function toDemoTasks(count: number = DEMO_MIX.length): DemoTask[] {
  return Array.from({ length: count }, (_, index) => {
    const task = DEMO_MIX[index % DEMO_MIX.length]!;
    const round = Math.floor(index / DEMO_MIX.length);
    return round === 0 ? task : { ...task, label: `${task.label} #${round + 1}` };
  });
}

export type DemoRow = {
  label: string;
  priority: string;
  taskId: string;
  state: string;
  attempt: number;
  progress: number;
  message: string;
  seq: number;
  /** Set when following this task failed (the watch gave up). */
  error?: string;
};

export function toInitialRow(task: DemoTask, taskId: string, state: string): DemoRow {
  return { label: task.label, priority: task.input.priority ?? 'medium', taskId, state, attempt: 0, progress: 0, message: '', seq: 0 };
}

export function applyUpdate(row: DemoRow, update: StatusUpdate): DemoRow {
  return { ...row, state: update.state, attempt: update.attempt, progress: update.progress, message: update.message, seq: update.seq };
}

export function renderBar(progress: number, width = 20): string {
  const clamped = Math.max(0, Math.min(100, progress));
  const filled = Math.round((clamped / 100) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(clamped).padStart(3)}%`;
}

export function renderRow(row: DemoRow): string {
  const head = `${row.label.padEnd(18)} ${row.priority.padEnd(6)} ${row.taskId.slice(0, 8).padEnd(8)} ${row.state.padEnd(9)}`;
  const attempt = row.attempt > 0 ? ` attempt ${row.attempt}` : '';
  const bar = row.state === 'RUNNING' ? ` ${renderBar(row.progress)}` : '';
  const note = row.error ? ` ! ${row.error}` : row.message ? ` ${row.message}` : '';
  return `${head}${attempt}${bar}${note}`.trimEnd();
}

/** Tasks per final state (ERROR: could not be followed), states in first-seen order. */
export function toStateCounts(rows: readonly DemoRow[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const row of rows) {
    const key = row.error ? 'ERROR' : row.state;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** "9 tasks: SUCCEEDED 6, FAILED 1, REJECTED 1, RUNNING 1", states in first-seen order. */
export function summarize(rows: readonly DemoRow[]): string {
  const parts = Object.entries(toStateCounts(rows)).map(([state, count]) => `${state} ${count}`);
  return `${rows.length} task${rows.length === 1 ? '' : 's'}: ${parts.join(', ')}`;
}

export type DemoOutput = { write(chunk: string): unknown; isTTY?: boolean; columns?: number };

/** TTY: the block of rows is redrawn in place (cursor up, clear line). Otherwise: one log line
 *  per change, which reads well in CI logs and pipes; with `json`, that line is the row as JSON. */
export function createDisplay(out: DemoOutput, options: { json?: boolean } = {}) {
  let drawn = 0;
  const logged = new Map<number, string>();
  const fit = (line: string) => {
    const columns = out.columns ?? 0;
    // A wrapped line would throw off the cursor-up count on the next redraw.
    return columns > 1 && line.length >= columns ? line.slice(0, columns - 1) : line;
  };
  return {
    changed(rows: readonly DemoRow[], index: number): void {
      if (!out.isTTY || options.json) {
        // One line per change. The submit response and the first streamed status (QUEUED, seq 1)
        // render alike, so a row is written only when it differs from its last line, seq aside.
        const row = rows[index]!;
        const line = options.json ? JSON.stringify(row) : renderRow(row);
        const key = options.json ? JSON.stringify({ ...row, seq: 0 }) : line;
        if (logged.get(index) === key) return;
        logged.set(index, key);
        out.write(`${line}\n`);
        return;
      }
      const up = drawn > 0 ? `\x1b[${drawn}A` : '';
      out.write(`${up}${rows.map((row) => `\x1b[2K${fit(renderRow(row))}\n`).join('')}`);
      drawn = rows.length;
    },
  };
}

export type DemoResult = { rows: DemoRow[]; allTerminal: boolean; anyError: boolean };

export async function runDemo(
  client: DemoClient,
  out: DemoOutput,
  options: { count?: number; signal?: AbortSignal; json?: boolean } = {},
): Promise<DemoResult> {
  const tasks = toDemoTasks(options.count);
  if (!options.json) out.write(`submitting ${tasks.length} example tasks...\n`);
  const rows: DemoRow[] = [];
  for (const task of tasks) {
    const submitted = await client.submit(task.input);
    rows.push(toInitialRow(task, submitted.taskId, submitted.state));
  }
  const display = createDisplay(out, { json: options.json });
  if (out.isTTY && !options.json) display.changed(rows, 0);
  else rows.forEach((_, index) => display.changed(rows, index));

  await Promise.all(
    rows.map(async (row, index) => {
      try {
        // after_seq 0: the whole history, so every stage shows up even for tasks that are fast.
        for await (const update of client.watch(row.taskId, { afterSeq: 0, signal: options.signal })) {
          rows[index] = applyUpdate(rows[index]!, update);
          display.changed(rows, index);
        }
      } catch (error) {
        rows[index] = { ...rows[index]!, error: toClientError(error).message };
        display.changed(rows, index);
      }
    }),
  );
  return {
    rows,
    allTerminal: rows.every((row) => !row.error && isTerminalState(row.state)),
    anyError: rows.some((row) => row.error !== undefined),
  };
}
