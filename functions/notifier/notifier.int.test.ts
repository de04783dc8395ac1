// The notifier against a real redis-server (and nats-server, which every function connects to):
// the function runs in-process via startFunction and receives real HTTP deliveries.
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { RedisClient as Redis } from '../../shared/redis-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_REDIS_KEY_PREFIX } from '../../shared/config';
import { EVENT_TYPES, KEYS, TERMINAL_STATES, type StatusUpdate, type StoredStatus, type TaskStateName } from '../../shared/contract';
import { createStepEvent, EVENT_IDS } from '../../shared/emit';
import { createEvent, type WireEvent } from '../../shared/events';
import { createLogger } from '../../shared/logger';
import { connectRedis, toChannel } from '../../shared/redis';
import type { RunningFunction } from '../../shared/runtime/start-function';
import { startFunction } from '../../shared/runtime/start-function';
import { applyStatus, applyTransitions, isNewer, readHistory, readStatus } from '../../shared/status';
import { postBinary, postStructured } from '../../test/helpers/events';
import { waitFor } from '../../test/helpers/ports';
import { startNatsServer, startRedisServer, type TestServer } from '../../test/helpers/servers';
import { definition } from './definition';

function update(taskId: string, state: TaskStateName, attempt = 0, progress = 0): StatusUpdate {
  return { taskId, state, stage: 'test', attempt, message: `${state} a${attempt} p${progress}`, progress, updatedAtMs: Date.now() };
}

function statusEvent(u: StatusUpdate): WireEvent {
  return createEvent({
    id: EVENT_IDS.status(u.taskId, u.state, u.attempt, u.progress),
    component: u.stage,
    type: EVENT_TYPES.statusChanged,
    taskId: u.taskId,
    data: u,
  });
}

const rankOf = (s: Pick<StoredStatus, 'state' | 'attempt' | 'progress'>) => `${s.state}/${s.attempt}/${s.progress}`;

/** Every message PUBLISHed on a task's status channel, parsed. */
async function subscribeToStatus(url: string, taskId: string): Promise<{ messages: StoredStatus[]; close(): void }> {
  const subscriber = new Redis(url, { keyPrefix: DEFAULT_REDIS_KEY_PREFIX });
  const messages: StoredStatus[] = [];
  subscriber.on('message', (_channel: string, json: string) => messages.push({ ...(JSON.parse(json) as StoredStatus), taskId }));
  await subscriber.subscribe(toChannel(subscriber, KEYS.statusChannel(taskId)));
  return { messages, close: () => subscriber.disconnect() };
}

/** The history is a chain of strictly newer updates, seq 1..n, with a terminal state only at the end. */
function expectMonotonic(history: StoredStatus[]): void {
  expect(history.map((h) => h.seq)).toEqual(history.map((_h, i) => i + 1));
  for (let i = 1; i < history.length; i += 1) {
    expect(isNewer(history[i]!, history[i - 1]!), `${rankOf(history[i]!)} after ${rankOf(history[i - 1]!)}`).toBe(true);
  }
  const terminal = history.findIndex((h) => TERMINAL_STATES.has(h.state));
  if (terminal >= 0) expect(terminal).toBe(history.length - 1);
}

describe('notifier (real Redis)', () => {
  let nats: TestServer;
  let redisServer: TestServer;
  let notifier: RunningFunction;
  let redis: Redis;
  let url: string;

  beforeAll(async () => {
    nats = await startNatsServer();
    redisServer = await startRedisServer();
    notifier = await startFunction(definition, {
      PORT: '0',
      NATS_URL: nats.url,
      REDIS_URL: redisServer.url,
      LOG_LEVEL: 'silent',
    });
    url = `http://127.0.0.1:${notifier.port}/`;
    redis = await connectRedis({ url: redisServer.url, keyPrefix: DEFAULT_REDIS_KEY_PREFIX, name: 'test', logger: createLogger('test', 'silent') });
  });

  afterAll(async () => {
    redis?.disconnect();
    await notifier?.stop();
    await redisServer?.stop();
    await nats?.stop();
  });

  it('out-of-order and duplicated status events leave the task SUCCEEDED, history in seq order, each change published once', async () => {
    const taskId = randomUUID();
    const subscription = await subscribeToStatus(redisServer.url, taskId);
    try {
      const deliveries: Array<[StatusUpdate, 'binary' | 'structured']> = [
        [update(taskId, 'QUEUED'), 'binary'],
        [update(taskId, 'VALIDATED'), 'structured'],
        [update(taskId, 'SCHEDULED'), 'binary'],
        [update(taskId, 'ENRICHED'), 'binary'], // late: SCHEDULED is newer
        [update(taskId, 'RUNNING', 1, 0), 'structured'],
        [update(taskId, 'RUNNING', 1, 0), 'binary'], // duplicate
        [update(taskId, 'SUCCEEDED', 1, 0), 'binary'],
        [update(taskId, 'RUNNING', 1, 50), 'structured'], // late: the task is terminal
        [update(taskId, 'FAILED', 2, 0), 'binary'], // terminal is never left
        [update(taskId, 'SUCCEEDED', 1, 0), 'structured'], // duplicate of the terminal
      ];
      for (const [u, mode] of deliveries) {
        const response = mode === 'binary' ? await postBinary(url, statusEvent(u)) : await postStructured(url, statusEvent(u));
        expect(response.status, `${u.state} (${mode})`).toBe(204);
      }

      const history = await readHistory(redis, taskId);
      expect(history.map(rankOf)).toEqual(['QUEUED/0/0', 'VALIDATED/0/0', 'SCHEDULED/0/0', 'RUNNING/1/0', 'SUCCEEDED/1/0']);
      expectMonotonic(history);
      expect(await readStatus(redis, taskId)).toMatchObject({ state: 'SUCCEEDED', seq: 5, attempt: 1, stage: 'test' });

      await waitFor('every accepted change to be published', () => subscription.messages.length >= 5);
      expect(subscription.messages).toEqual(history);
    } finally {
      subscription.close();
    }
  });

  it('a RUNNING of attempt 2 after a RETRYING of attempt 1 is applied; a late RETRYING of attempt 1 is not', async () => {
    const taskId = randomUUID();
    for (const u of [
      update(taskId, 'RUNNING', 1, 30),
      update(taskId, 'RETRYING', 1),
      update(taskId, 'RUNNING', 2, 0),
      update(taskId, 'RETRYING', 1),
      update(taskId, 'RUNNING', 1, 60),
      update(taskId, 'RUNNING', 2, 40),
    ]) {
      expect((await postBinary(url, statusEvent(u))).status).toBe(204);
    }
    const history = await readHistory(redis, taskId);
    expect(history.map(rankOf)).toEqual(['RUNNING/1/30', 'RETRYING/1/0', 'RUNNING/2/0', 'RUNNING/2/40']);
    expectMonotonic(history);
  });

  it("applies a stage step's transitions in order in one delivery, each published, the audit record left to the audit stage", async () => {
    const taskId = randomUUID();
    const subscription = await subscribeToStatus(redisServer.url, taskId);
    try {
      const step = (states: Parameters<typeof createStepEvent>[0]['states']) =>
        createStepEvent({ component: 'ingest', taskId, states, audit: { action: 'accepted' }, nowMs: Date.now() });
      expect((await postBinary(url, step([{ state: 'QUEUED' }]))).status).toBe(204);
      expect((await postStructured(url, step([{ state: 'VALIDATED' }, { state: 'ENRICHED' }]))).status).toBe(204);
      // A stale first transition is skipped, the newer second one applied.
      expect((await postBinary(url, step([{ state: 'ENRICHED' }, { state: 'SCHEDULED' }]))).status).toBe(204);
      // Nothing after a terminal transition, in the same step or later.
      expect((await postBinary(url, step([{ state: 'REJECTED' }, { state: 'RUNNING', attempt: 1 }]))).status).toBe(204);
      expect((await postBinary(url, step([{ state: 'RUNNING', attempt: 2 }]))).status).toBe(204);

      const history = await readHistory(redis, taskId);
      expect(history.map(rankOf)).toEqual(['QUEUED/0/0', 'VALIDATED/0/0', 'ENRICHED/0/0', 'SCHEDULED/0/0', 'REJECTED/0/0']);
      expect(history.every((entry) => entry.stage === 'ingest')).toBe(true);
      expectMonotonic(history);
      expect(await redis.zscore(KEYS.activeTasks, taskId)).toBeNull();
      await waitFor('every accepted change to be published', () => subscription.messages.length >= 5);
      expect(subscription.messages).toEqual(history);
    } finally {
      subscription.close();
    }
  });

  it('applyTransitions (Lua) applies a list exactly as isNewer folds it, one transition after another', async () => {
    const states: TaskStateName[] = ['QUEUED', 'VALIDATED', 'ENRICHED', 'SCHEDULED', 'RUNNING', 'RETRYING', 'SUCCEEDED', 'FAILED'];
    const transition = fc.record({
      state: fc.constantFrom(...states),
      attempt: fc.integer({ min: 0, max: 2 }),
      progress: fc.constantFrom(0, 50, 100),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(transition, { minLength: 1, maxLength: 8 }), fc.array(transition, { maxLength: 3 }), async (step, before) => {
        const taskId = randomUUID();
        for (const u of before) await applyStatus(redis, update(taskId, u.state, u.attempt, u.progress));
        const list = step.map((u) => update(taskId, u.state, u.attempt, u.progress));
        let current = await readStatus(redis, taskId);
        const expected = (await readHistory(redis, taskId)).map(rankOf);
        for (const next of list) {
          if (isNewer(next, current)) {
            expected.push(rankOf(next));
            current = { ...next, seq: 0 };
          }
        }
        await applyTransitions(redis, taskId, 'test', list);
        expect((await readHistory(redis, taskId)).map(rankOf)).toEqual(expected);
      }),
      { numRuns: 60 },
    );
  });

  it('refuses a malformed status event with 400 naming the field, and writes nothing', async () => {
    const taskId = randomUUID();
    const cases: Array<[unknown, RegExp]> = [
      [{ ...update(taskId, 'RUNNING', 1), state: 'DONE' }, /data\.state/],
      [{ ...update(taskId, 'RUNNING', 1), progress: 120 }, /data\.progress/],
      [{ ...update(taskId, 'RUNNING', 1), taskId: 'someone-else' }, /differs from the event subject/],
    ];
    for (const [data, reason] of cases) {
      const event = { ...statusEvent(update(taskId, 'RUNNING', 1)), data };
      const response = await postBinary(url, event);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { message: string }).message).toMatch(reason);
    }
    const wrongType = await postBinary(url, { ...statusEvent(update(taskId, 'QUEUED')), type: EVENT_TYPES.auditRecorded });
    expect(wrongType.status).toBe(400);
    expect(await redis.exists(KEYS.status(taskId), KEYS.history(taskId))).toBe(0);
  });

  it('applyStatus (Lua): 100 concurrent updates in random order never move a status backwards', async () => {
    const connections = await Promise.all(
      [1, 2, 3, 4].map(() => connectRedis({ url: redisServer.url, keyPrefix: DEFAULT_REDIS_KEY_PREFIX, name: 'test-concurrent', logger: createLogger('test', 'silent') })),
    );
    try {
      for (let round = 0; round < 10; round += 1) {
        const taskId = randomUUID();
        const lifecycle = [
          update(taskId, 'QUEUED'),
          update(taskId, 'VALIDATED'),
          update(taskId, 'ENRICHED'),
          update(taskId, 'SCHEDULED'),
          ...[0, 10, 20, 30, 40].map((p) => update(taskId, 'RUNNING', 1, p)),
          update(taskId, 'RETRYING', 1),
          ...[0, 10, 20, 30, 40, 50, 60, 70, 80, 90].map((p) => update(taskId, 'RUNNING', 2, p)),
          // Half the rounds race a cancellation against the success: exactly one terminal wins.
          ...(round % 2 === 0 ? [update(taskId, 'SUCCEEDED', 2)] : [update(taskId, 'SUCCEEDED', 2), update(taskId, 'CANCELLED')]),
        ];
        const updates = [...lifecycle];
        while (updates.length < 100) updates.push(lifecycle[Math.floor(Math.random() * lifecycle.length)]!);
        updates.sort(() => Math.random() - 0.5);

        const subscription = await subscribeToStatus(redisServer.url, taskId);
        try {
          const seqs = await Promise.all(updates.map((u, i) => applyStatus(connections[i % connections.length]!, u)));
          const history = await readHistory(redis, taskId);
          expectMonotonic(history);
          expect(seqs.filter((seq) => seq > 0).sort((a, b) => a - b)).toEqual(history.map((h) => h.seq));
          expect(TERMINAL_STATES.has(history.at(-1)!.state)).toBe(true);
          expect(await readStatus(redis, taskId)).toEqual(history.at(-1));
          await waitFor('every accepted change to be published', () => subscription.messages.length >= history.length);
          expect(subscription.messages).toEqual(history);
        } finally {
          subscription.close();
        }
      }
    } finally {
      for (const connection of connections) connection.disconnect();
    }
  });

  it('applyStatus (Lua) accepts exactly what the pure isNewer accepts, for any order of updates', async () => {
    const state = fc.constantFrom<TaskStateName>('QUEUED', 'VALIDATED', 'ENRICHED', 'SCHEDULED', 'RUNNING', 'RETRYING', 'SUCCEEDED', 'FAILED');
    const arbitraryUpdate = fc.record({ state, attempt: fc.integer({ min: 0, max: 3 }), progress: fc.integer({ min: 0, max: 100 }) });
    await fc.assert(
      fc.asyncProperty(fc.array(arbitraryUpdate, { minLength: 1, maxLength: 25 }), async (items) => {
        const taskId = randomUUID();
        let current: StatusUpdate | undefined;
        const expected: string[] = [];
        for (const item of items) {
          const u = update(taskId, item.state, item.attempt, item.progress);
          const seq = await applyStatus(redis, u);
          const newer = isNewer(u, current);
          expect(seq > 0).toBe(newer);
          if (newer) {
            current = u;
            expected.push(rankOf(u));
          }
        }
        expect((await readHistory(redis, taskId)).map(rankOf)).toEqual(expected);
      }),
      { numRuns: 60 },
    );
  });

  it('reads history after a given seq, for a client that resumes', async () => {
    const taskId = randomUUID();
    for (const state of ['QUEUED', 'VALIDATED', 'ENRICHED', 'SCHEDULED'] as const) await applyStatus(redis, update(taskId, state));
    expect((await readHistory(redis, taskId, 2)).map((h) => [h.seq, h.state])).toEqual([
      [3, 'ENRICHED'],
      [4, 'SCHEDULED'],
    ]);
    expect(await readHistory(redis, taskId, 4)).toEqual([]);
  });

  it('answers 503 while Redis is down (so the source retries), and applies the update once Redis is back', async () => {
    const taskId = randomUUID();
    const event = statusEvent(update(taskId, 'QUEUED'));
    redisServer.kill('SIGKILL');
    try {
      const refused = await waitFor('a 503 while Redis is down', async () => {
        const response = await postBinary(url, event);
        return response.status === 503 ? response : undefined;
      });
      expect(((await refused.json()) as { error: string; message: string }).message).toMatch(/redis unavailable/);
    } finally {
      await redisServer.restart();
    }
    await waitFor('the update to be applied after Redis restarted', async () => (await postBinary(url, event)).status === 204);
    await waitFor('the test client to reconnect', () => redis.status === 'ready');
    expect(await readStatus(redis, taskId)).toMatchObject({ state: 'QUEUED', seq: 1 });
  });
});
