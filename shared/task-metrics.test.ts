import { describe, expect, it } from 'vitest';
import { MeterProvider, MetricReader, type DataPoint, type MetricData } from '@opentelemetry/sdk-metrics';
import { createDeadLetterMetrics, createFinishMetrics, createRunMetrics, createSubmitMetrics, observeQueues, OTHER_TYPE } from './task-metrics';

class TestReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

function setUp() {
  const reader = new TestReader();
  const provider = new MeterProvider({ readers: [reader] });
  const meter = provider.getMeter('test');
  const collect = async (): Promise<Map<string, MetricData>> => {
    const { resourceMetrics } = await reader.collect();
    return new Map(resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics).map((metric) => [metric.descriptor.name, metric]));
  };
  return { meter, collect };
}

const points = (metric: MetricData | undefined) => (metric?.dataPoints ?? []) as DataPoint<unknown>[];

describe('task metrics', () => {
  it('records nothing and costs nothing when metrics are off', () => {
    expect(createSubmitMetrics(undefined)).toBeUndefined();
    expect(createFinishMetrics(undefined)).toBeUndefined();
    expect(createRunMetrics(undefined)).toBeUndefined();
    expect(createDeadLetterMetrics(undefined)).toBeUndefined();
    expect(() => observeQueues(undefined, async () => [])).not.toThrow();
  });

  it('counts a submitted task of a type nobody registered as OTHER_TYPE, so clients cannot add series', async () => {
    const { meter, collect } = setUp();
    const submit = createSubmitMetrics(meter, ['echo'])!;
    submit.submitted({ type: 'echo', priority: 'high' });
    submit.submitted({ type: 'made-up-1', priority: 'low' });
    submit.submitted({ type: 'made-up-2', priority: 'low' });
    const attributes = points((await collect()).get('taskmanager.tasks.submitted')).map((p) => [p.attributes, p.value]);
    expect(attributes).toEqual([
      [{ 'taskmanager.task.type': 'echo', 'taskmanager.task.priority': 'high' }, 1],
      [{ 'taskmanager.task.type': OTHER_TYPE, 'taskmanager.task.priority': 'low' }, 2],
    ]);
  });

  it('records a finished task with its outcome and its end-to-end time in seconds, never negative', async () => {
    const { meter, collect } = setUp();
    const finish = createFinishMetrics(meter)!;
    finish.finished({ type: 'echo', priority: 'medium' }, 'succeeded', 0.25);
    finish.finished({ type: 'echo', priority: 'medium' }, 'failed', -1);
    const metrics = await collect();
    expect(points(metrics.get('taskmanager.tasks.finished')).map((p) => [p.attributes['taskmanager.task.outcome'], p.value])).toEqual([
      ['succeeded', 1],
      ['failed', 1],
    ]);
    const duration = metrics.get('taskmanager.task.duration')!;
    expect(duration.descriptor.unit).toBe('s');
    expect(points(duration).map((p) => (p.value as { sum: number }).sum)).toEqual([0.25, 0]);
  });

  it('counts a run that will be retried as a retry, and a last failure not', async () => {
    const { meter, collect } = setUp();
    const run = createRunMetrics(meter)!;
    const task = { type: 'flaky', priority: 'medium' };
    run.waited(task, 0.1);
    run.ran(task, 'retrying', 0.01);
    run.ran(task, 'retrying', 0.01);
    run.ran(task, 'failed', 0.01);
    const metrics = await collect();
    expect(points(metrics.get('taskmanager.task.retries')).map((p) => p.value)).toEqual([2]);
    expect(points(metrics.get('taskmanager.task.run.duration')).map((p) => [p.attributes['taskmanager.task.outcome'], (p.value as { count: number }).count])).toEqual([
      ['retrying', 2],
      ['failed', 1],
    ]);
    expect(points(metrics.get('taskmanager.task.wait.duration')).length).toBe(1);
  });

  it('reports each queue at collection, and no zeros when the read fails', async () => {
    const { meter, collect } = setUp();
    let fail = false;
    observeQueues(meter, async () => {
      if (fail) throw new Error('nats is down');
      return [{ queue: 'worker.high', pending: 3, inFlight: 1, oldestPendingAgeMs: 1500 }];
    });
    const first = await collect();
    expect(points(first.get('taskmanager.queue.pending')).map((p) => [p.attributes['taskmanager.queue'], p.value])).toEqual([['worker.high', 3]]);
    expect(points(first.get('taskmanager.queue.oldest_pending.age')).map((p) => p.value)).toEqual([1.5]);
    fail = true;
    expect(points((await collect()).get('taskmanager.queue.pending')).map((p) => p.value)).toEqual([3]);
  });

  it('counts dead letters by the stage that gave up', async () => {
    const { meter, collect } = setUp();
    const letters = createDeadLetterMetrics(meter)!;
    letters.deadLettered('worker');
    letters.deadLettered('source:ingest');
    letters.deadLettered('worker');
    expect(points((await collect()).get('taskmanager.dead_letters')).map((p) => [p.attributes['taskmanager.stage'], p.value])).toEqual([
      ['worker', 2],
      ['source:ingest', 1],
    ]);
  });
});
