// Metrics end to end: the process stack with TM_METRICS=prometheus runs tasks of every outcome
// (succeeded, succeeded after a retry, failed into a dead letter, rejected, cancelled), then every
// process is scraped on the port it serves GET /metrics on. Every metric name the provisioned
// dashboard queries must be one some process exports; every process exports its process metrics;
// each recorder counted what happened; and each exposition passes `promtool check metrics`.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskManagerClient, type TaskManagerClient } from '../../client/client';
import { FUNCTIONS } from '../../shared/topology';
import { sourceName } from '../../scripts/local-stack';
import { dashboardExpressions, exposedSeriesNames, metricNamesOf, readDashboard } from '../helpers/dashboard';
import { getFreePort, waitFor } from '../helpers/ports';
import { startTestStack, type TestStack } from '../helpers/stack';

const hasPromtool = !spawnSync('promtool', ['--version']).error;

/** The value of the one sample of `series` whose labels include every `labels` pair (0 when none). */
function sampleValue(exposition: string, series: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${series}{`) && !line.startsWith(`${series} `)) continue;
    if (Object.entries(labels).every(([name, value]) => line.includes(`${name}="${value}"`))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

describe('metrics of a running stack', () => {
  let stack: TestStack;
  let client: TaskManagerClient;
  let gatewayMetricsPort: number;
  const scrapes = new Map<string, string>();

  beforeAll(async () => {
    gatewayMetricsPort = await getFreePort();
    stack = await startTestStack({ env: { TM_METRICS: 'prometheus' }, processEnv: { gateway: { TM_METRICS_PORT: String(gatewayMetricsPort) } } });
    client = createTaskManagerClient({ address: stack.gatewayAddress });
    const submitted = await Promise.all([
      client.submit({ type: 'echo', payload: { hello: 'metrics' } }),
      client.submit({ type: 'echo', payload: { hello: 'high' }, priority: 'high' }),
      client.submit({ type: 'flaky', payload: { failures: 1 } }),
      client.submit({ type: 'fail', payload: { message: 'on purpose' }, maxAttempts: 2 }),
      client.submit({ type: 'no-such-type', payload: {} }),
    ]);
    const sleeper = await client.submit({ type: 'sleep', payload: { ms: 20_000 }, priority: 'low' });
    await waitFor('the sleeper to run', async () => (await client.getTask(sleeper.taskId)).status?.state === 'RUNNING', 20_000, 100);
    await client.cancel(sleeper.taskId);
    for (const { taskId } of [...submitted, sleeper]) await client.waitForResult(taskId);
    // The dead letter and the cancelled run are recorded after the terminal status is out.
    const deadletterUrl = `http://127.0.0.1:${stack.ports.deadletter}/metrics`;
    await waitFor('the dead letter to be stored', async () => (await (await fetch(deadletterUrl)).text()).includes('taskmanager_dead_letters_total'), 20_000, 200);
    const targets: Record<string, number> = { gateway: gatewayMetricsPort, dashboard: stack.ports.dashboard! };
    for (const fn of FUNCTIONS) {
      targets[fn.name] = stack.ports[fn.name]!;
      if (fn.sourcePort) targets[sourceName(fn)] = stack.ports[sourceName(fn)]!;
    }
    await waitFor(
      'the worker to record the cancelled run',
      async () => (await (await fetch(`http://127.0.0.1:${targets.worker}/metrics`)).text()).includes('taskmanager_task_outcome="cancelled"'),
      20_000,
      200,
    );
    for (const [name, port] of Object.entries(targets)) {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(response.status, name).toBe(200);
      expect(response.headers.get('content-type'), name).toContain('text/plain');
      scrapes.set(name, await response.text());
    }
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await stack?.stop();
  });

  it('exports every metric the dashboard queries', () => {
    const exported = new Set([...scrapes.values()].flatMap((text) => [...exposedSeriesNames(text)]));
    const missing = dashboardExpressions(readDashboard()).flatMap(({ where, expr }) =>
      metricNamesOf(expr)
        .filter((name) => !exported.has(name))
        .map((name) => `${where}: ${name}`),
    );
    expect(missing).toEqual([]);
  });

  it('exports process metrics from every process, labelled with its name', () => {
    for (const [name, text] of scrapes) {
      expect(sampleValue(text, 'process_cpu_time_total', { service_name: name, cpu_mode: 'user' }), name).toBeGreaterThan(0);
      expect(sampleValue(text, 'process_memory_usage', { service_name: name }), name).toBeGreaterThan(0);
    }
  });

  it('counts what the tasks did, where it happened', () => {
    const gateway = scrapes.get('gateway')!;
    const finished = (outcome: string) =>
      ['gateway', 'ingest', 'result-store'].reduce((sum, name) => sum + sampleValue(scrapes.get(name)!, 'taskmanager_tasks_finished_total', { taskmanager_task_outcome: outcome }), 0);
    expect(sampleValue(gateway, 'taskmanager_tasks_submitted_total', {})).toBe(6);
    expect(sampleValue(gateway, 'taskmanager_tasks_submitted_total', { taskmanager_task_type: '_other' })).toBe(1);
    expect(sampleValue(gateway, 'taskmanager_tasks_submitted_total', { taskmanager_task_priority: 'high' })).toBe(1);
    expect(finished('succeeded')).toBe(3);
    expect(finished('failed')).toBe(1);
    expect(finished('rejected')).toBe(1);
    expect(finished('cancelled')).toBe(1);
    const worker = scrapes.get('worker')!;
    expect(sampleValue(worker, 'taskmanager_task_retries_total', { taskmanager_task_type: 'flaky' })).toBe(1);
    expect(sampleValue(worker, 'taskmanager_task_retries_total', { taskmanager_task_type: 'fail' })).toBe(1);
    expect(sampleValue(worker, 'taskmanager_task_wait_duration_count', {})).toBe(5);
    expect(sampleValue(scrapes.get('deadletter')!, 'taskmanager_dead_letters_total', {})).toBeGreaterThanOrEqual(2);
    expect(sampleValue(scrapes.get('worker-source')!, 'messaging_client_consumed_messages_total', { messaging_consumer_group_name: 'worker-high' })).toBe(1);
    expect(sampleValue(gateway, 'taskmanager_queue_pending', { taskmanager_queue: 'worker.low' })).toBe(0);
  });

  it('keeps each source\'s own series beside the OpenTelemetry ones', () => {
    for (const fn of FUNCTIONS.filter((f) => f.sourcePort)) {
      const text = scrapes.get(sourceName(fn))!;
      expect(text, fn.name).toContain('tm_source_deliveries_total');
      expect(text, fn.name).toContain('messaging_process_duration_bucket');
    }
  });

  it.skipIf(!hasPromtool)('serves expositions that pass promtool check metrics (skipped without promtool: apt-get install prometheus)', () => {
    for (const [name, text] of scrapes) {
      const result = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      expect(`${result.stdout}${result.stderr}`.trim(), name).toBe('');
      expect(result.status, name).toBe(0);
    }
  });
});
