// The task-level metrics each component records, as small recorders over an OpenTelemetry Meter.
// Every factory returns undefined for an undefined meter (metrics off: shared/metrics.ts), so a
// component holds `recorder?: X` and pays one `?.` per task when nothing records.
//
// Names: `taskmanager.*` for what is the task manager's own (OpenTelemetry has no convention for
// tasks or queues); attributes `taskmanager.task.type`, `taskmanager.task.priority`,
// `taskmanager.task.outcome`. Durations are histograms in seconds. The Prometheus names are these
// with dots as underscores, `_total` on counters (docs/decisions/0018-metrics.md lists them).
import type { Attributes, Meter } from '@opentelemetry/api';
import { DURATION_BUCKETS_S } from './metrics';

export type TaskLabels = { type: string; priority: string };
/** How a task ended (the result-store's terminal states), lower case. */
export type TaskEnd = 'succeeded' | 'failed' | 'cancelled' | 'rejected';
/** How one run of the worker ended: a terminal state, or a retry to come. */
export type RunEnd = TaskEnd | 'retrying';

/** The type label of a task whose type may be anything a client sent (the gateway, a rejection):
 * one not among `known` is counted as OTHER_TYPE, so a client cannot make series without bound. */
export const OTHER_TYPE = '_other';

function typeLabeller(knownTypes: readonly string[] | undefined): (task: TaskLabels) => TaskLabels {
  if (!knownTypes) return (task) => task;
  const known = new Set(knownTypes);
  return (task) => (known.has(task.type) ? task : { type: OTHER_TYPE, priority: task.priority });
}

function toAttributes(task: TaskLabels, outcome?: string): Attributes {
  const attributes: Attributes = { 'taskmanager.task.type': task.type, 'taskmanager.task.priority': task.priority };
  if (outcome !== undefined) attributes['taskmanager.task.outcome'] = outcome;
  return attributes;
}

function durationHistogram(meter: Meter, name: string, description: string) {
  return meter.createHistogram(name, { unit: 's', description, advice: { explicitBucketBoundaries: DURATION_BUCKETS_S } });
}

/** The result-store: each task's end, once its result is stored, and its end-to-end time; the
 * ingest stage: each task it rejects; the gateway: each task it cancels. Given `knownTypes` where
 * the type may be anything a client sent. */
export type FinishMetrics = { finished(task: TaskLabels, outcome: TaskEnd, endToEndSeconds: number): void };

export function createFinishMetrics(meter: Meter | undefined, knownTypes?: readonly string[]): FinishMetrics | undefined {
  if (!meter) return undefined;
  const label = typeLabeller(knownTypes);
  const finished = meter.createCounter('taskmanager.tasks.finished', { unit: '{task}', description: 'Tasks that reached a terminal state, by outcome.' });
  const duration = durationHistogram(meter, 'taskmanager.task.duration', 'End-to-end time of a task: from its submission to its terminal state.');
  return {
    finished(task, outcome, seconds) {
      const attributes = toAttributes(label(task), outcome);
      finished.add(1, attributes);
      duration.record(Math.max(0, seconds), attributes);
    },
  };
}

/** The gateway: tasks accepted by SubmitTask (not a repeated idempotency key), and tasks it
 * cancels (CANCELLED is final when the gateway writes it; the result-store does not count it). */
export type SubmitMetrics = FinishMetrics & { submitted(task: TaskLabels): void };

export function createSubmitMetrics(meter: Meter | undefined, knownTypes?: readonly string[]): SubmitMetrics | undefined {
  const finish = createFinishMetrics(meter, knownTypes);
  if (!meter || !finish) return undefined;
  const submitted = meter.createCounter('taskmanager.tasks.submitted', { unit: '{task}', description: 'Tasks accepted by SubmitTask.' });
  const label = typeLabeller(knownTypes);
  return { submitted: (task) => submitted.add(1, toAttributes(label(task))), finished: finish.finished };
}

/** The worker: queue wait of a task's first run, each run's time, and each retry. */
export type RunMetrics = {
  waited(task: TaskLabels, seconds: number): void;
  ran(task: TaskLabels, outcome: RunEnd, seconds: number): void;
};

export function createRunMetrics(meter: Meter | undefined): RunMetrics | undefined {
  if (!meter) return undefined;
  const wait = durationHistogram(meter, 'taskmanager.task.wait.duration', 'Time from when a task could first run (submitted, or its delay over) to the start of its first run.');
  const run = durationHistogram(meter, 'taskmanager.task.run.duration', 'Time one run of a task handler took, by how it ended.');
  const retries = meter.createCounter('taskmanager.task.retries', { unit: '{retry}', description: 'Runs that failed and will be retried.' });
  return {
    waited: (task, seconds) => wait.record(Math.max(0, seconds), toAttributes(task)),
    ran(task, outcome, seconds) {
      run.record(Math.max(0, seconds), toAttributes(task, outcome));
      if (outcome === 'retrying') retries.add(1, toAttributes(task));
    },
  };
}

/** The deadletter stage: each dead letter stored (a repeat is not counted), by the stage that gave up. */
export type DeadLetterMetrics = { deadLettered(stage: string): void };

export function createDeadLetterMetrics(meter: Meter | undefined): DeadLetterMetrics | undefined {
  if (!meter) return undefined;
  const letters = meter.createCounter('taskmanager.dead_letters', { unit: '{message}', description: 'Dead letters stored, by the stage that gave up.' });
  return { deadLettered: (stage) => letters.add(1, { 'taskmanager.stage': stage }) };
}

/** One queue's figures (shared/queue-stats.ts QueueStats). */
export type QueueFigures = { queue: string; pending: number; inFlight: number; oldestPendingAgeMs: number };

/** Observable gauges of every queue, read at scrape time through `read` (a cached sample). */
export function observeQueues(meter: Meter | undefined, read: () => Promise<readonly QueueFigures[]>): void {
  if (!meter) return;
  const pending = meter.createObservableGauge('taskmanager.queue.pending', { unit: '{message}', description: 'Messages of the queue not yet delivered.' });
  const inFlight = meter.createObservableGauge('taskmanager.queue.in_flight', { unit: '{message}', description: 'Messages of the queue delivered and not yet acknowledged.' });
  const oldest = meter.createObservableGauge('taskmanager.queue.oldest_pending.age', { unit: 's', description: 'Age of the oldest message the queue holds; 0 when empty.' });
  meter.addBatchObservableCallback(
    async (result) => {
      // A failed read observes nothing rather than zeros; the SDK then serves the last figures
      // it has (an observable's series stay until the process ends).
      const figures = await read().catch(() => []);
      for (const figure of figures) {
        const attributes = { 'taskmanager.queue': figure.queue };
        result.observe(pending, figure.pending, attributes);
        result.observe(inFlight, figure.inFlight, attributes);
        result.observe(oldest, figure.oldestPendingAgeMs / 1000, attributes);
      }
    },
    [pending, inFlight, oldest],
  );
}

