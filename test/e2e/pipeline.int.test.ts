// End to end on the process stack (the bundles, as `npm start` runs them) with real NATS and
// Redis: mixed workloads reach the right terminal state with the right output, retries and
// dead letters follow the contract, handlers run once, and status streams never go backwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskManagerClient, isTerminalState, type StatusUpdate, type TaskManagerClient } from '../../client/client';
import { jetstreamManager } from '@nats-io/jetstream';
import { EVENT_TYPES, KEYS, STREAM_EVENTS, STREAM_TASKS, SUBJECTS } from '../../shared/contract';
import type { WireEvent } from '../../shared/events';
import { toRank } from '../../shared/status';
import { waitFor } from '../helpers/ports';
import { mixedWorkload } from '../helpers/mixed-workload';
import { startTestStack, type TestStack } from '../helpers/stack';
import { describeSent } from '../helpers/steps';
import { waitForConsumersIdle } from '../faults/probes';

/** Parsed JSON entries of a Redis list. */
async function readList(stack: TestStack, key: string): Promise<Record<string, unknown>[]> {
  return (await stack.redis.lrange(key, 0, -1)).map((entry) => JSON.parse(entry) as Record<string, unknown>);
}

function assertMonotonic(updates: StatusUpdate[]): void {
  for (let i = 1; i < updates.length; i += 1) {
    const previous = updates[i - 1]!;
    const current = updates[i]!;
    expect(current.seq).toBeGreaterThan(previous.seq);
    expect(isTerminalState(previous.state)).toBe(false);
    const before = toRank({ state: previous.state as never });
    const after = toRank({ state: current.state as never });
    expect(after.phase).toBeGreaterThanOrEqual(before.phase);
  }
}

describe('the pipeline end to end', () => {
  let stack: TestStack;
  let client: TaskManagerClient;

  beforeAll(async () => {
    // Every source in one process, as `npm start` runs them.
    stack = await startTestStack({ hostSources: true });
    client = createTaskManagerClient({ address: stack.gatewayAddress });
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await stack?.stop();
  }, 60_000);

  // First, while nothing else writes to this stack's Redis, so "changes nothing" is exact.
  it('malformed, invalid and unsupported CloudEvents POSTed to every function get 400 with a reason and change nothing', async () => {
    const functions = ['ingest', 'scheduler', 'worker', 'result-store', 'notifier', 'audit', 'deadletter'];
    // The reconciler's lease is renewed in the background whatever happens (functions/scheduler).
    const keys = async () => (await stack.redis.keys('*')).filter((key) => !key.endsWith('reconciler:lease')).sort();
    const keysBefore = await keys();
    expect(keysBefore).toEqual([]);
    const bad: { name: string; headers: Record<string, string>; body: string }[] = [
      { name: 'no CloudEvent', headers: { 'content-type': 'text/plain' }, body: 'hello' },
      { name: 'bad JSON', headers: { 'content-type': 'application/cloudevents+json' }, body: '{"id":' },
      {
        name: 'missing source',
        headers: { 'ce-id': 'x1', 'ce-type': 'taskmanager.task.submitted', 'ce-specversion': '1.0', 'content-type': 'application/json' },
        body: '{}',
      },
      {
        name: 'unsupported type',
        headers: { 'ce-id': 'x2', 'ce-source': '/test', 'ce-type': 'com.example.other', 'ce-specversion': '1.0', 'content-type': 'application/json' },
        body: '{}',
      },
      {
        name: 'wrong specversion',
        headers: { 'content-type': 'application/cloudevents+json' },
        body: JSON.stringify({ id: 'x3', source: '/t', type: 'taskmanager.task.submitted', specversion: '0.3' }),
      },
    ];
    for (const fn of functions) {
      for (const request of bad) {
        const response = await fetch(`http://127.0.0.1:${stack.ports[fn]}/`, { method: 'POST', headers: request.headers, body: request.body });
        expect(response.status, `${fn}: ${request.name}`).toBe(400);
        const body = (await response.json()) as { message: string };
        expect(body.message.length, `${fn}: ${request.name}`).toBeGreaterThan(10);
      }
    }
    expect(await keys()).toEqual(keysBefore);
  });

  it('200 mixed tasks each end in the right terminal state with the right output, handlers run exactly as often as they must', async () => {
    const workload = mixedWorkload(200);
    const ids = await Promise.all(workload.map((task) => client.submit({ type: task.type, payload: task.payload }).then((r) => r.taskId)));
    expect(new Set(ids).size).toBe(200);

    const results = await Promise.all(ids.map((id) => client.waitForResult(id)));
    // The audit trail and the dead letters are written by stages of their own, which may still be
    // working through a backlog when a task's terminal state is visible: read them once every
    // consumer has acked what it was given.
    await waitForConsumersIdle(stack.nc, 60_000);
    const audit = await readList(stack, KEYS.auditEvents);
    const runsByTask = new Map<string, number>();
    for (const entry of audit) {
      if (entry.action === 'handler.started') runsByTask.set(String(entry.taskId), (runsByTask.get(String(entry.taskId)) ?? 0) + 1);
    }
    const deadLetters = await readList(stack, KEYS.deadLetter);

    workload.forEach((expected, index) => {
      const id = ids[index]!;
      const result = results[index]!;
      const letters = deadLetters.filter((entry) => entry.taskId === id);
      const why = result.state === expected.state ? '' : `: ${result.error ?? ''} ${JSON.stringify(letters).slice(0, 600)}`;
      const context = `${expected.type} ${JSON.stringify(expected.payload)} (${id})${why}`;
      expect(result.state, context).toBe(expected.state);
      if (expected.output !== undefined) expect(result.output, context).toEqual(expected.output);
      expect(runsByTask.get(id) ?? 0, context).toBe(expected.runs);
      if (expected.state === 'SUCCEEDED') expect(letters, context).toHaveLength(0);
      else expect(letters, context).toHaveLength(1);
      if (expected.type === 'fail') {
        expect(result.attempts, context).toBe(5);
        expect(letters[0]).toMatchObject({ stage: 'worker', attempts: 5 });
        expect(String(letters[0]!.lastError)).toContain('boom');
      }
      if (expected.state === 'REJECTED') {
        expect(letters[0]).toMatchObject({ stage: 'ingest' });
        expect(String(letters[0]!.reason), context).toMatch(expected.type === 'no-such-type' ? /unknown task type/ : /schema/);
      }
    });

    const rejected = await client.getTask(ids[workload.findIndex((t) => t.type === 'no-such-type')]!);
    expect(rejected.status?.state).toBe('REJECTED');
    expect(rejected.status?.message).toMatch(/unknown task type "no-such-type"/);
  }, 180_000);

  it('a stream opened at submit starts with the current state, never goes backwards and ends terminal', async () => {
    const { taskId } = await client.submit({ type: 'sleep', payload: { ms: 300 } });
    const updates: StatusUpdate[] = [];
    for await (const update of client.watch(taskId)) updates.push(update);
    expect(updates.length).toBeGreaterThanOrEqual(2);
    assertMonotonic(updates);
    expect(updates.at(-1)!.state).toBe('SUCCEEDED');
    expect(updates.some((u) => u.state === 'RUNNING' && u.progress > 0)).toBe(true);
    const task = await client.getTask(taskId);
    expect(updates[0]!.seq).toBeLessThanOrEqual(task.history.length);
  });

  it('a subscriber that connects after the task finished still gets its whole history, in order', async () => {
    const { taskId } = await client.submit({ type: 'flaky', payload: { failures: 1 } });
    await client.waitForResult(taskId);
    const current: StatusUpdate[] = [];
    for await (const update of client.watch(taskId)) current.push(update);
    expect(current.map((u) => u.state)).toEqual(['SUCCEEDED']);

    const history: StatusUpdate[] = [];
    for await (const update of client.watch(taskId, { afterSeq: 0 })) history.push(update);
    assertMonotonic(history);
    expect(history.map((u) => u.seq)).toEqual(history.map((_, i) => i + 1));
    const states = history.map((u) => u.state);
    expect(states[0]).toBe('QUEUED');
    expect(states).toEqual(expect.arrayContaining(['VALIDATED', 'ENRICHED', 'SCHEDULED', 'RUNNING', 'RETRYING']));
    expect(states.at(-1)).toBe('SUCCEEDED');
  });

  it('max_attempts below the default stops retrying early with one dead letter', async () => {
    const { taskId } = await client.submit({ type: 'fail', payload: { message: 'twice' }, maxAttempts: 2 });
    const result = await client.waitForResult(taskId);
    expect(result.state).toBe('FAILED');
    expect(result.attempts).toBe(2);
    expect(result.error).toContain('twice');
    await waitFor('the dead letter', async () => (await readList(stack, KEYS.deadLetter)).some((e) => e.taskId === taskId));
    expect((await readList(stack, KEYS.deadLetter)).filter((e) => e.taskId === taskId)).toHaveLength(1);
  });

  it('an idempotency key submitted twice gives one task that runs once', async () => {
    const key = `order-${Date.now()}`;
    const first = await client.submit({ type: 'echo', payload: { n: 1 }, idempotencyKey: key });
    const second = await client.submit({ type: 'echo', payload: { n: 1 }, idempotencyKey: key });
    expect(second.taskId).toBe(first.taskId);
    expect(second.duplicate).toBe(true);
    expect((await client.waitForResult(first.taskId)).state).toBe('SUCCEEDED');
    const runs = (await readList(stack, KEYS.auditEvents)).filter((e) => e.taskId === first.taskId && e.action === 'handler.started');
    expect(runs).toHaveLength(1);
  });

  it('an echo task is 8 messages on JetStream: 4 task events and 4 status events, each step one status event with its audit record', async () => {
    const jsm = await jetstreamManager(stack.nc);
    const lastSeqs = async () => Promise.all([STREAM_TASKS, STREAM_EVENTS].map(async (name) => (await jsm.streams.info(name)).state.last_seq));
    await waitForConsumersIdle(stack.nc, 30_000);
    const [tasksBefore, eventsBefore] = await lastSeqs();
    // Publishes only ('>' would also match the deliveries to the sources' inboxes).
    const published: WireEvent[] = [];
    const subs = ['tasks.>', 'events.>'].map((subject) =>
      stack.nc.subscribe(subject, { callback: (_error, msg) => void published.push(JSON.parse(new TextDecoder().decode(msg.data)) as WireEvent) }),
    );
    try {
      // The server has the subscriptions before the task is submitted (the gateway publishes on
      // a connection of its own, which could otherwise get there first).
      await stack.nc.flush();
      const { taskId } = await client.submit({ type: 'echo', payload: { counted: true } });
      expect((await client.waitForResult(taskId)).state).toBe('SUCCEEDED');
      await waitForConsumersIdle(stack.nc, 30_000);
      const [tasksAfter, eventsAfter] = await lastSeqs();
      expect({ tasks: tasksAfter! - tasksBefore!, events: eventsAfter! - eventsBefore! }).toEqual({ tasks: 4, events: 4 });

      const ofTask = published.filter((event) => event.subject === taskId);
      expect(ofTask.map((event) => event.type).sort()).toEqual(
        [EVENT_TYPES.submitted, EVENT_TYPES.accepted, EVENT_TYPES.scheduled, EVENT_TYPES.finished, ...Array(4).fill(EVENT_TYPES.statusChanged)].sort(),
      );
      const steps = ofTask.filter((event) => event.type === EVENT_TYPES.statusChanged).map((event) => describeSent([{ subject: SUBJECTS.status, event }])[0]);
      expect(steps.sort()).toEqual(
        ['status VALIDATED,ENRICHED audit accepted', 'status SCHEDULED audit scheduled', 'status RUNNING audit handler.started', 'status SUCCEEDED audit result.stored'].sort(),
      );
      // The audit stage stored each step's record; the notifier applied every transition.
      const audit = (await readList(stack, KEYS.auditEvents)).filter((entry) => entry.taskId === taskId).map((entry) => entry.action);
      expect(audit.sort()).toEqual(['accepted', 'handler.started', 'result.stored', 'scheduled']);
      const history = (await stack.redis.lrange(KEYS.history(taskId), 0, -1)).map((entry) => (JSON.parse(entry) as { state: string }).state);
      expect(history).toEqual(['QUEUED', 'VALIDATED', 'ENRICHED', 'SCHEDULED', 'RUNNING', 'SUCCEEDED']);
    } finally {
      for (const sub of subs) sub.unsubscribe();
    }
  });

  it('without an exporter, every event of a task carries the one trace id its submit started, not sampled', async () => {
    const events: { type: string; subject?: string; traceparent?: string }[] = [];
    const sub = stack.nc.subscribe('>', {
      callback: (_error, msg) => {
        if (!msg.subject.startsWith('tasks.') && !msg.subject.startsWith('events.')) return;
        events.push(JSON.parse(new TextDecoder().decode(msg.data)) as (typeof events)[number]);
      },
    });
    try {
      const { taskId } = await client.submit({ type: 'echo', payload: { traced: 'without exporter' } });
      expect((await client.waitForResult(taskId)).state).toBe('SUCCEEDED');
      // submitted, accepted, scheduled, finished and their status events
      const ofTask = await waitFor('the task events and their status events', () => {
        const found = events.filter((event) => event.subject === taskId);
        return found.length >= 8 ? found : undefined;
      });
      const traceparents = ofTask.map((event) => /^00-([0-9a-f]{32})-([0-9a-f]{16})-00$/.exec(event.traceparent ?? '')?.[1]);
      expect(traceparents.every((traceId) => traceId !== undefined), JSON.stringify(ofTask.map((e) => [e.type, e.traceparent]))).toBe(true);
      expect(new Set(traceparents).size).toBe(1);
    } finally {
      sub.unsubscribe();
    }
  });
});
