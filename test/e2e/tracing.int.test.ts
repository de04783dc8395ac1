// One task is one trace: the bundles (not the sources) export spans over OTLP to an in-memory
// collector, and every stage's spans for a task share the trace id that SubmitTask started.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskManagerClient, type TaskManagerClient } from '../../client/client';
import { startOtlpCollector, type OtlpCollector } from '../helpers/otlp-collector';
import { waitFor } from '../helpers/ports';
import { startTestStack, type TestStack } from '../helpers/stack';

const STAGES = ['gateway', 'ingest', 'scheduler', 'worker', 'result-store', 'notifier', 'audit'];
const SOURCES = ['ingest-source', 'scheduler-source', 'worker-source', 'result-store-source', 'notifier-source'];

describe('trace context', () => {
  let collector: OtlpCollector;
  let stack: TestStack;
  let client: TaskManagerClient;

  beforeAll(async () => {
    collector = await startOtlpCollector();
    stack = await startTestStack({
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${collector.url}/v1/traces`, TM_OTEL_SIMPLE_PROCESSOR: 'true' },
    });
    client = createTaskManagerClient({ address: stack.gatewayAddress });
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await stack?.stop();
    await collector?.close();
  }, 60_000);

  it('one trace id covers every stage of a task, from the gRPC call to the stored result', async () => {
    const { taskId } = await client.submit({ type: 'echo', payload: { traced: true } });
    expect((await client.waitForResult(taskId)).state).toBe('SUCCEEDED');

    const traceId = await waitFor('a span naming the task', () =>
      collector.spans.find((span) => span.attributes['taskmanager.task_id'] === taskId)?.traceId,
    );
    const services = () => new Set(collector.spans.filter((span) => span.traceId === traceId).map((span) => span.service));
    await waitFor(
      'spans of every stage and source in the trace',
      () => [...STAGES, ...SOURCES].every((name) => services().has(name)),
      20_000,
    ).catch(() => {
      throw new Error(`trace ${traceId} has spans of ${[...services()].join(', ')}; expected ${[...STAGES, ...SOURCES].join(', ')}`);
    });

    const inTrace = () => collector.spans.filter((span) => span.traceId === traceId);
    // The gRPC server span comes from auto-instrumentation of the (external) grpc-js in the bundle.
    expect(inTrace().some((span) => span.service === 'gateway' && span.kind === 2 && span.name.includes('SubmitTask'))).toBe(true);
    // Every span but the root has its parent in the same trace: the hops are linked, not just
    // tagged. Parents end (and are exported) after their children, so wait for them.
    const orphans = () => {
      const ids = new Set(inTrace().map((span) => span.spanId));
      return inTrace()
        .filter((span) => span.parentSpanId && !ids.has(span.parentSpanId))
        .map((span) => `${span.service}:${span.name}`);
    };
    await waitFor('every parent span to arrive', () => orphans().length === 0, 10_000).catch(() => {
      throw new Error(`spans whose parent is not in the trace: ${orphans().join(', ')}`);
    });
    // Another task gets another trace.
    const other = await client.submit({ type: 'echo', payload: { traced: 'again' } });
    await client.waitForResult(other.taskId);
    const otherTrace = await waitFor('the second task span', () =>
      collector.spans.find((span) => span.attributes['taskmanager.task_id'] === other.taskId)?.traceId,
    );
    expect(otherTrace).not.toBe(traceId);
  }, 60_000);
});
