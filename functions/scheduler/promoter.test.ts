import { describe, expect, it, vi } from 'vitest';
import { EVENT_TYPES, SUBJECTS, type DeadLetterData, type Priority, type TaskEnvelope } from '../../shared/contract';
import { EVENT_IDS } from '../../shared/emit';
import { DependencyUnavailableError } from '../../shared/errors';
import { createEvent, type WireEvent } from '../../shared/events';
import { createLogger } from '../../shared/logger';
import type { Publisher } from '../../shared/nats';
import type { DelayedStore } from './delayed-store';
import { startBackgroundLoop } from './background-loop';
import { createPromoter, type PromoterDeps } from './promoter';
import { toStatusUpdates } from '../../test/helpers/steps';

const logger = createLogger('test', 'silent');

/** In-memory twin of the Redis store, with the claimDue script's semantics. */
function memoryStore() {
  const queue = new Map<string, number>();
  const leases = new Map<string, number>();
  const events = new Map<string, string>();
  const store: DelayedStore = {
    async add(taskId, dueAtMs, json) {
      events.set(taskId, json);
      queue.set(taskId, dueAtMs);
    },
    async claimDue(now, leaseMs, limit) {
      const claimed: string[] = [];
      for (const [id, end] of [...leases].sort((a, b) => a[1] - b[1])) {
        if (claimed.length < limit && end <= now) claimed.push(id);
      }
      for (const [id, due] of [...queue].sort((a, b) => a[1] - b[1])) {
        if (claimed.length < limit && due <= now) {
          queue.delete(id);
          claimed.push(id);
        }
      }
      for (const id of claimed) leases.set(id, now + leaseMs);
      return claimed;
    },
    async load(taskId) {
      return events.get(taskId) ?? null;
    },
    async complete(taskId) {
      leases.delete(taskId);
      events.delete(taskId);
    },
    async release(taskId) {
      if (leases.has(taskId)) leases.set(taskId, 0);
    },
  };
  return { store, queue, leases, events };
}

function scheduledJson(taskId: string, priority: Priority): string {
  const data: TaskEnvelope = {
    taskId, type: 'echo', payload: '{}', priority, metadata: {}, maxAttempts: 5, createdAtMs: 1, notBeforeMs: 1_000, tenant: 't',
  };
  return JSON.stringify(createEvent({ id: EVENT_IDS.scheduled(taskId), component: 'scheduler', type: EVENT_TYPES.scheduled, taskId, data }));
}

function recordingPublisher(failures: Set<string> = new Set()) {
  const sent: { subject: string; event: WireEvent }[] = [];
  const publisher: Publisher = {
    async publish(subject, event) {
      if (event.subject && failures.has(event.subject)) throw new DependencyUnavailableError('nats down');
      sent.push({ subject, event });
    },
  };
  return { publisher, sent };
}

function setup(options: { now?: number; batchSize?: number; failures?: Set<string> } = {}) {
  const memory = memoryStore();
  const { publisher, sent } = recordingPublisher(options.failures);
  let now = options.now ?? 1_000;
  const deps: PromoterDeps = {
    store: memory.store,
    publisher,
    logger,
    now: () => now,
    leaseMs: 30_000,
    batchSize: options.batchSize ?? 100,
    component: 'scheduler',
  };
  return { promoter: createPromoter(deps), sent, ...memory, setNow: (value: number) => (now = value) };
}

describe('promoter', () => {
  it('publishes each due event once on its priority subject and forgets it; later ones wait', async () => {
    const { promoter, store, sent, queue, leases, events } = setup({ now: 1_000 });
    await store.add('a', 900, scheduledJson('a', 'high'));
    await store.add('b', 1_000, scheduledJson('b', 'low'));
    await store.add('c', 5_000, scheduledJson('c', 'medium'));

    expect(await promoter.runOnce()).toBe(2);
    expect(sent.map((s) => `${s.subject} ${s.event.id}`).sort()).toEqual([
      `${SUBJECTS.workerHigh} ${EVENT_IDS.scheduled('a')}`,
      `${SUBJECTS.workerLow} ${EVENT_IDS.scheduled('b')}`,
    ]);
    expect([...queue.keys()]).toEqual(['c']);
    expect(leases.size).toBe(0);
    expect([...events.keys()]).toEqual(['c']);

    expect(await promoter.runOnce()).toBe(0);
    expect(sent).toHaveLength(2);
  });

  it('drains more due events than one batch in a single round', async () => {
    const { promoter, store, sent } = setup({ batchSize: 2 });
    for (let i = 0; i < 5; i += 1) await store.add(`t${i}`, 0, scheduledJson(`t${i}`, 'medium'));
    expect(await promoter.runOnce()).toBe(5);
    expect(new Set(sent.map((s) => s.event.subject)).size).toBe(5);
  });

  it('an event that fails to publish stays stored and is published by the next round', async () => {
    const failures = new Set(['a']);
    const { promoter, store, sent, events, leases } = setup({ failures });
    await store.add('a', 0, scheduledJson('a', 'high'));
    await store.add('b', 0, scheduledJson('b', 'high'));

    expect(await promoter.runOnce()).toBe(1);
    expect(events.has('a')).toBe(true);
    expect(leases.get('a')).toBe(0);

    failures.clear();
    expect(await promoter.runOnce()).toBe(1);
    expect(sent.map((s) => s.event.subject).sort()).toEqual(['a', 'b']);
    expect(events.size).toBe(0);
    expect(leases.size).toBe(0);
  });

  it('an id whose lease expired (its promoter died) is claimed again and published', async () => {
    const { promoter, store, sent, setNow } = setup({ now: 1_000 });
    await store.add('a', 0, scheduledJson('a', 'medium'));
    expect(await store.claimDue(1_000, 30_000, 10)).toEqual(['a']); // a promoter that then dies
    expect(await promoter.runOnce()).toBe(0);
    setNow(31_000);
    expect(await promoter.runOnce()).toBe(1);
    expect(sent.map((s) => s.event.subject)).toEqual(['a']);
  });

  it('a claimed id whose event is already gone only drops the lease', async () => {
    const { promoter, sent, leases, queue } = setup();
    queue.set('ghost', 0);
    expect(await promoter.runOnce()).toBe(0);
    expect(sent).toEqual([]);
    expect(leases.size).toBe(0);
  });

  it('an unreadable stored event fails the task visibly: dead letter and FAILED, then dropped', async () => {
    const { promoter, store, sent, events, leases } = setup();
    await store.add('bad', 0, '{not json');
    expect(await promoter.runOnce()).toBe(0);
    expect(sent.map((s) => s.subject)).toEqual([SUBJECTS.deadletter, SUBJECTS.status]);
    const dead = sent[0]!.event.data as DeadLetterData;
    expect(dead).toMatchObject({ taskId: 'bad', stage: 'scheduler', event: '{not json' });
    expect(dead.reason).toContain('unreadable');
    expect(toStatusUpdates(sent[1]!.event)[0]!.state).toBe('FAILED');
    expect(events.size).toBe(0);
    expect(leases.size).toBe(0);
  });
});

describe('promoter loop', () => {
  it('keeps going after a failed round (Redis down) and promotes once it recovers', async () => {
    let calls = 0;
    const runOnce = vi.fn(async () => {
      calls += 1;
      if (calls <= 2) throw new Error('ECONNREFUSED');
      return 1;
    });
    const stop = startBackgroundLoop({ runOnce }, { intervalMs: 1, logger });
    await vi.waitFor(() => expect(calls).toBeGreaterThanOrEqual(4), { timeout: 5_000 });
    await stop();
  });

  it('stop waits for the round in progress and no round starts after it', async () => {
    let finishRound: (() => void) | undefined;
    let rounds = 0;
    const runOnce = vi.fn(async () => {
      rounds += 1;
      await new Promise<void>((resolve) => (finishRound = resolve));
      return 0;
    });
    const stop = startBackgroundLoop({ runOnce }, { intervalMs: 1, logger });
    await vi.waitFor(() => expect(rounds).toBe(1));

    let stopped = false;
    const stopping = stop().then(() => (stopped = true));
    await Promise.resolve();
    expect(stopped).toBe(false);
    finishRound?.();
    await stopping;
    expect(stopped).toBe(true);
    expect(rounds).toBe(1);
  });
});
