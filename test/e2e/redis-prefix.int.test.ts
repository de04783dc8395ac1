// TM_REDIS_PREFIX on the process stack, in a Redis that an application uses too: the application
// holds keys under the very names the system would use without a prefix. After tasks of every
// path have run (streamed, dead-lettered, delayed, idempotent, cancelled while running), every
// key of the system starts with the prefix, the application's keys are as they were, and status
// streams and cancels, which travel on pub/sub channels that the client does not prefix by itself,
// still reach the gateway and the worker.
import { RedisClient as Redis } from '../../shared/redis-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskManagerClient, type StatusUpdate, type TaskManagerClient } from '../../client/client';
import { KEYS } from '../../shared/contract';
import { waitFor } from '../helpers/ports';
import { startTestStack, type TestStack } from '../helpers/stack';

const PREFIX = 'app1:';
const IDEMPOTENCY_KEY = 'order-1';

/** The application's keys: the names the system's keys would have without a prefix. */
async function seedApplication(app: Redis): Promise<void> {
  await app.hset(KEYS.task('x'), 'owner', 'application');
  await app.hset(KEYS.status('x'), 'state', 'application');
  await app.rpush(KEYS.deadLetter, 'application letter');
  await app.rpush(KEYS.auditEvents, 'application entry');
  await app.zadd(KEYS.delayedQueue, 1, 'application member');
  // A submit with the same idempotency key would answer this "task id" if it read this key.
  await app.set(KEYS.idempotency('default', IDEMPOTENCY_KEY), 'application-value');
}

/** Every key, by full name, with its serialized value. */
async function snapshot(app: Redis): Promise<Map<string, string>> {
  const keys = new Set<string>();
  let cursor = '0';
  do {
    const [next, batch] = await app.scan(cursor, 'COUNT', 1000);
    for (const key of batch) keys.add(key);
    cursor = next;
  } while (cursor !== '0');
  const values = new Map<string, string>();
  for (const key of [...keys].sort()) values.set(key, (await app.dumpBuffer(key))?.toString('hex') ?? '');
  return values;
}

describe(`a custom Redis key prefix (TM_REDIS_PREFIX=${PREFIX}) in a Redis shared with an application`, () => {
  let stack: TestStack;
  let client: TaskManagerClient;
  /** The application's client: no prefix. */
  let app: Redis;
  let appListener: Redis;
  const appHeard: string[] = [];

  beforeAll(async () => {
    stack = await startTestStack({ env: { TM_REDIS_PREFIX: PREFIX } });
    client = createTaskManagerClient({ address: stack.gatewayAddress });
    app = new Redis(stack.redisServer.url);
    appListener = new Redis(stack.redisServer.url);
    // Publishes on unprefixed status or cancel channels would reach the application.
    appListener.on('pmessage', (_pattern: string, channel: string) => appHeard.push(channel));
    await appListener.psubscribe('task_*');
  }, 120_000);

  afterAll(async () => {
    client?.close();
    app?.disconnect();
    appListener?.disconnect();
    await stack?.stop();
  }, 60_000);

  it('tasks run, stream and cancel under the prefix; every key and channel of the system has it and the application keys are untouched', async () => {
    const unprefixed = (keys: Iterable<string>) => [...keys].filter((key) => !key.startsWith(PREFIX));
    expect(stack.redis.options.keyPrefix).toBe(PREFIX);
    expect(unprefixed((await snapshot(app)).keys())).toEqual([]);
    await seedApplication(app);
    const applicationKeys = new Map([...(await snapshot(app))].filter(([key]) => !key.startsWith(PREFIX)));
    expect(applicationKeys.size).toBe(6);

    // Streamed: live updates arrive on the prefixed channel, where the gateway listens.
    const streamed = await client.submit({ type: 'sleep', payload: { ms: 1_500 }, idempotencyKey: IDEMPOTENCY_KEY });
    expect(streamed.duplicate).toBe(false);
    const channel = KEYS.statusChannel(streamed.taskId);
    const updates: StatusUpdate[] = [];
    let subscribers: unknown;
    for await (const update of client.watch(streamed.taskId)) {
      subscribers ??= await app.pubsub('NUMSUB', `${PREFIX}${channel}`, channel);
      updates.push(update);
    }
    expect(subscribers).toEqual([`${PREFIX}${channel}`, 1, channel, 0]);
    expect(updates.at(-1)?.state).toBe('SUCCEEDED');
    expect(updates.length, updates.map((u) => u.state).join(' ')).toBeGreaterThanOrEqual(2);

    // Dead-lettered, delayed, and the idempotency key answered from the system's own key.
    const failed = await client.submit({ type: 'fail', payload: { message: 'prefixed' }, maxAttempts: 1 });
    const delayed = await client.submit({ type: 'echo', payload: { later: true }, delayMs: 500 });
    const again = await client.submit({ type: 'sleep', payload: { ms: 1_500 }, idempotencyKey: IDEMPOTENCY_KEY });
    expect(again).toMatchObject({ taskId: streamed.taskId, duplicate: true });
    expect((await client.waitForResult(failed.taskId)).state).toBe('FAILED');
    expect((await client.waitForResult(delayed.taskId)).state).toBe('SUCCEEDED');
    await waitFor('the dead letter', async () =>
      (await stack.redis.lrange(KEYS.deadLetter, 0, -1)).some((entry) => (JSON.parse(entry) as { taskId: string }).taskId === failed.taskId),
    );

    // Cancelled while running: the worker hears the cancel on the prefixed channel and aborts.
    const running = await client.submit({ type: 'sleep', payload: { ms: 60_000 }, priority: 'high' });
    await waitFor('the task to run', async () => (await client.getTask(running.taskId)).status?.state === 'RUNNING');
    expect(await app.pubsub('CHANNELS', '*')).toEqual([`${PREFIX}${KEYS.cancelChannel}`]);
    expect((await client.cancel(running.taskId)).state).toBe('CANCELLED');
    const aborted = await waitFor('the worker to report the aborted run', async () => {
      const json = await stack.redis.hget(KEYS.result(running.taskId), 'json');
      return json ? (JSON.parse(json) as { state: string }) : undefined;
    }, 20_000);
    expect(aborted.state).toBe('CANCELLED');

    const after = await snapshot(app);
    const systemKeys = [...after.keys()].filter((key) => !applicationKeys.has(key));
    expect(unprefixed(systemKeys)).toEqual([]);
    for (const id of [streamed.taskId, failed.taskId, delayed.taskId, running.taskId]) {
      for (const key of [KEYS.task(id), KEYS.status(id), KEYS.history(id), KEYS.result(id)]) expect(systemKeys).toContain(`${PREFIX}${key}`);
    }
    for (const key of [KEYS.auditEvents, KEYS.deadLetter, KEYS.idempotency('default', IDEMPOTENCY_KEY)]) expect(systemKeys).toContain(`${PREFIX}${key}`);
    expect(new Map([...after].filter(([key]) => applicationKeys.has(key)))).toEqual(applicationKeys);
    expect(appHeard).toEqual([]);
  }, 120_000);
});
