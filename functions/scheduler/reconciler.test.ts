import { describe, expect, it } from 'vitest';
import { CONSUMERS, EVENT_TYPES, SUBJECTS, type StoredStatus, type TaskEnvelope, type TaskStateName } from '../../shared/contract';
import { createEmitter, toMsgId } from '../../shared/emit';
import { DependencyUnavailableError } from '../../shared/errors';
import type { WireEvent } from '../../shared/events';
import { createLogger } from '../../shared/logger';
import { createReconciler, judge, toRoute, type ReconcilerDeps, type ReconcilerSettings, type TaskFacts } from './reconciler';
import { createReconcilerCounters } from './reconciler-metrics';
import { toStatusUpdates } from '../../test/helpers/steps';

const logger = createLogger('test', 'silent');
const NOW = 1_000_000;
const SETTINGS: ReconcilerSettings = { staleAfterMs: 20_000, forceAfterMs: 600_000, slackMs: 5_000, maxRedrives: 3, batchSize: 100 };

function envelope(taskId: string, overrides: Partial<TaskEnvelope> = {}): TaskEnvelope {
  return { taskId, type: 'echo', payload: '{"a":1}', priority: 'high', metadata: {}, maxAttempts: 5, createdAtMs: 1, notBeforeMs: 0, tenant: 'default', ...overrides };
}

function status(taskId: string, state: TaskStateName, updatedAtMs: number): StoredStatus {
  return { taskId, state, stage: 'x', attempt: 1, message: '', progress: 0, updatedAtMs, seq: 3 };
}

const stale = NOW - 30_000;
const facts = (overrides: Partial<TaskFacts> = {}): TaskFacts => ({
  status: status('t1', 'SCHEDULED', stale),
  envelope: envelope('t1'),
  published: true,
  delayed: false,
  liveRun: false,
  oldestHeldMs: undefined,
  ...overrides,
});

describe('judge: what to do with one stalled task', () => {
  it.each([
    ['its record is gone', facts({ envelope: undefined }), 'forget'],
    ['it has no status', facts({ status: undefined }), 'forget'],
    ['it is terminal', facts({ status: status('t1', 'SUCCEEDED', stale) }), 'forget'],
    ['it is QUEUED and its submission was never confirmed (the client got no id)', facts({ status: status('t1', 'QUEUED', stale), published: false }), 'forget'],
    ['it is QUEUED and its submission was confirmed', facts({ status: status('t1', 'QUEUED', stale), oldestHeldMs: undefined }), 'redrive'],
    ['it changed since the sweep read the index', facts({ status: status('t1', 'SCHEDULED', NOW - 1_000) }), 'wait'],
    ['it waits in the delayed set', facts({ delayed: true }), 'wait'],
    ['it is not due yet', facts({ envelope: envelope('t1', { notBeforeMs: NOW + 60_000 }) }), 'wait'],
    ['a worker runs it (its lease is held)', facts({ status: status('t1', 'RUNNING', stale), liveRun: true }), 'wait'],
    ['its stage holds a message from before its last change', facts({ oldestHeldMs: stale - 1_000 }), 'wait'],
    ['its stage holds a message from within the clock slack of its last change', facts({ oldestHeldMs: stale + 4_000 }), 'wait'],
    ['its stage holds only newer messages', facts({ oldestHeldMs: stale + 6_000 }), 'redrive'],
    ['its stage holds nothing', facts({ oldestHeldMs: undefined }), 'redrive'],
    ['its stage holds older messages but it is stale past the force bound', facts({ status: status('t1', 'SCHEDULED', NOW - 700_000), oldestHeldMs: 1 }), 'redrive'],
    ['it is RETRYING without a run and nothing is held', facts({ status: status('t1', 'RETRYING', stale) }), 'redrive'],
  ])('when %s: %s', (_situation, input, action) => {
    expect(judge(input, SETTINGS, NOW).action).toBe(action);
  });
});

describe('toRoute: the stage a stalled task goes to again', () => {
  it.each<[TaskStateName, string, string]>([
    ['QUEUED', SUBJECTS.ingest, EVENT_TYPES.submitted],
    ['VALIDATED', SUBJECTS.ingest, EVENT_TYPES.submitted],
    ['ENRICHED', SUBJECTS.ingest, EVENT_TYPES.submitted],
    ['SCHEDULED', SUBJECTS.workerHigh, EVENT_TYPES.scheduled],
    ['RUNNING', SUBJECTS.workerHigh, EVENT_TYPES.scheduled],
    ['RETRYING', SUBJECTS.workerHigh, EVENT_TYPES.scheduled],
  ])('%s → %s (%s), the same event id as the original', (state, subject, type) => {
    const route = toRoute(state, envelope('t1'), NOW);
    expect(route?.subject).toBe(subject);
    expect(route?.event.type).toBe(type);
    expect(route?.event.id).toBe(type === EVENT_TYPES.submitted ? 't1:submitted' : 't1:scheduled');
    expect(route?.event.data).toEqual(envelope('t1'));
  });

  it('sends the stored outcome of a task that ran, as the result-store reported it, not the task again', () => {
    const route = toRoute('RUNNING', envelope('t1'), NOW, { state: 'SUCCEEDED', attempts: 2, error: '' });
    expect(route?.subject).toBe(SUBJECTS.status);
    expect(route?.event.id).toBe('t1:status:SUCCEEDED:2:100');
    expect(route?.event.data).toMatchObject({
      taskId: 't1',
      stage: 'result-store',
      transitions: [{ state: 'SUCCEEDED', attempt: 2, progress: 100 }],
      audit: { action: 'result.stored', attempt: 2 },
    });
  });

  it('sends a low-priority task to the low worker consumer', () => {
    const route = toRoute('SCHEDULED', envelope('t1', { priority: 'low' }), NOW);
    expect(route?.subject).toBe(SUBJECTS.workerLow);
    expect(route?.consumer).toBe(CONSUMERS.worker[2]);
  });

  it('has no route for a terminal state', () => {
    expect(toRoute('FAILED', envelope('t1'), NOW)).toBeUndefined();
  });
});

/** In-memory deps: tasks by id, what was published, what each consumer holds. */
function world(tasks: Record<string, { state: TaskStateName; updatedAtMs: number; envelope?: TaskEnvelope }>) {
  const published: { subject: string; event: WireEvent }[] = [];
  const redrives = new Map<string, number>();
  const forgotten: string[] = [];
  const held = new Map<string, number | undefined>();
  const counters = createReconcilerCounters();
  // Each sweep reads the clock first: advancing it per read moves every sweep a little later.
  let clock = NOW;
  const publisher = { publish: async (subject: string, event: WireEvent) => void published.push({ subject, event }) };
  const deps: ReconcilerDeps = {
    findStalled: async (beforeMs, limit) =>
      Object.entries(tasks).filter(([, task]) => task.updatedAtMs <= beforeMs).map(([id]) => id).slice(0, limit),
    forget: async (taskId) => void forgotten.push(taskId),
    readStatus: async (taskId) => (tasks[taskId] ? status(taskId, tasks[taskId].state, tasks[taskId].updatedAtMs) : undefined),
    readOutcome: async () => undefined,
    readTask: async (taskId) => (tasks[taskId] ? { envelope: tasks[taskId].envelope ?? envelope(taskId), publishedAtMs: 1 } : undefined),
    isDelayed: async () => false,
    hasLiveRun: async () => false,
    oldestHeldMs: async (consumer) => held.get(consumer.durable),
    statusConsumer: CONSUMERS.notifier[0],
    countRedrive: async (taskId) => {
      redrives.set(taskId, (redrives.get(taskId) ?? 0) + 1);
      return redrives.get(taskId)!;
    },
    publish: publisher.publish,
    emit: createEmitter(publisher, 'reconciler', () => NOW),
    metrics: counters,
    logger,
    now: () => (clock += 100),
    settings: SETTINGS,
  };
  return { deps, published, redrives, forgotten, held, counters };
}

describe('a sweep', () => {
  it('re-drives a stranded task as the same event with a re-drive mark, audits it and counts it', async () => {
    const w = world({ t1: { state: 'ENRICHED', updatedAtMs: stale } });
    const reconciler = createReconciler(w.deps);
    // First only suspected: a change of it may still wait in the notifier.
    expect(await reconciler.sweep()).toBe(0);
    expect(w.published).toEqual([]);
    expect(await reconciler.sweep()).toBe(1);

    const redriven = w.published.find((entry) => entry.subject === SUBJECTS.ingest);
    expect(redriven?.event).toMatchObject({ id: 't1:submitted', type: EVENT_TYPES.submitted, subject: 't1', redrive: '1' });
    // A new Nats-Msg-Id: the duplicate window does not drop it as a copy of the lost original.
    expect(toMsgId(redriven!.event)).toBe('t1:submitted:redrive:1');
    const audit = w.published.find((entry) => entry.subject === SUBJECTS.audit);
    expect(audit?.event.data).toMatchObject({ taskId: 't1', action: 'reconciler.redrive', attempt: 1 });
    expect(w.counters.snapshot()).toMatchObject({ sweeps: 2, redrives: { ENRICHED: 1 }, failed: 0 });
  });

  it('leaves alone a task whose stage still holds older messages, and re-drives nothing', async () => {
    const w = world({ t1: { state: 'QUEUED', updatedAtMs: stale } });
    w.held.set('ingest', stale - 10_000);
    expect(await createReconciler(w.deps).sweep()).toBe(0);
    expect(w.published).toEqual([]);
    expect(w.counters.snapshot().redrives).toEqual({});
  });

  it('re-drives a suspect only once the notifier has applied every change published before it was suspected', async () => {
    const w = world({ t1: { state: 'QUEUED', updatedAtMs: stale } });
    const reconciler = createReconciler(w.deps);
    w.held.set('notifier', NOW - 15_000);
    expect(await reconciler.sweep()).toBe(0);
    // Still behind the moment of the first sweep: the task may have moved on unseen.
    expect(await reconciler.sweep()).toBe(0);
    w.held.set('notifier', undefined);
    expect(await reconciler.sweep()).toBe(1);
    expect(w.published.filter((entry) => entry.subject === SUBJECTS.ingest).map((entry) => entry.event.subject)).toEqual(['t1']);
  });

  it('does not re-drive a suspect whose status changed between two sweeps', async () => {
    const tasks = { t1: { state: 'QUEUED' as TaskStateName, updatedAtMs: stale } };
    const w = world(tasks);
    const reconciler = createReconciler(w.deps);
    await reconciler.sweep();
    const readStatus = w.deps.readStatus;
    w.deps.readStatus = async (taskId) => ({ ...(await readStatus(taskId))!, seq: 4 });
    expect(await reconciler.sweep()).toBe(0);
    expect(w.published).toEqual([]);
  });

  it('forgets a task that is terminal (the index was behind)', async () => {
    const w = world({ t1: { state: 'SUCCEEDED', updatedAtMs: stale } });
    await createReconciler(w.deps).sweep();
    expect(w.forgotten).toEqual(['t1']);
    expect(w.published).toEqual([]);
  });

  it('fails a task for good with one dead letter after its last re-drive', async () => {
    const w = world({ t1: { state: 'SCHEDULED', updatedAtMs: stale } });
    const reconciler = createReconciler(w.deps);
    // Each re-drive (and the failure) takes two sweeps: suspected, then confirmed.
    for (let sweep = 0; sweep < 2 * (SETTINGS.maxRedrives + 1); sweep += 1) await reconciler.sweep();

    expect(w.published.filter((entry) => entry.subject === SUBJECTS.workerHigh)).toHaveLength(SETTINGS.maxRedrives);
    const letters = w.published.filter((entry) => entry.subject === SUBJECTS.deadletter);
    expect(letters).toHaveLength(1);
    expect(letters[0]?.event.data).toMatchObject({ taskId: 't1', stage: 'reconciler', reason: expect.stringContaining('stranded at SCHEDULED') });
    const failed = w.published.filter((entry) => entry.subject === SUBJECTS.status);
    expect(failed.flatMap((entry) => toStatusUpdates(entry.event))).toEqual([
      expect.objectContaining({ state: 'FAILED', message: expect.stringContaining('3 re-drives') }),
    ]);
    expect(w.counters.snapshot()).toMatchObject({ redrives: { SCHEDULED: 3 }, failed: 1 });
  });

  it('goes on with the other tasks when one cannot be re-driven', async () => {
    const w = world({ t1: { state: 'QUEUED', updatedAtMs: stale }, t2: { state: 'QUEUED', updatedAtMs: stale } });
    const publish = w.deps.publish;
    w.deps.publish = async (subject, event) => {
      if (event.subject === 't1') throw new DependencyUnavailableError('nats is down');
      return publish(subject, event);
    };
    const reconciler = createReconciler(w.deps);
    expect(await reconciler.sweep()).toBe(0);
    expect(await reconciler.sweep()).toBe(1);
    expect(w.published.filter((entry) => entry.subject === SUBJECTS.ingest).map((entry) => entry.event.subject)).toEqual(['t2']);
  });
});
