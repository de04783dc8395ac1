import { describe, expect, it } from 'vitest';
import { createLogger } from '../shared/logger';
import { waitFor } from '../test/helpers/ports';
import { createDispatcher, type DispatcherPort } from './dispatcher';

type Gate = { resolve: () => void; promise: Promise<void> };

function gate(): Gate {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { resolve, promise };
}

/**
 * A fake set of consumers: queues per priority; long polls wait until a message is pushed or
 * `expire()` is called (the server's `expires`). Deliveries block until `finish(name)`.
 */
function fakePort(consumerCount: number, options: { failPulls?: number } = {}) {
  const queues: string[][] = Array.from({ length: consumerCount }, () => []);
  const waiters: Array<((message: string | null) => void) | undefined> = Array.from({ length: consumerCount }, () => undefined);
  const gates = new Map<string, Gate>();
  const delivered: string[] = [];
  const finished: string[] = [];
  const released: string[] = [];
  const working = new Map<string, number>();
  const abandoned: string[] = [];
  let active = 0;
  let maxActive = 0;
  let failPulls = options.failPulls ?? 0;

  const port: DispatcherPort<string> = {
    consumerCount,
    async pullNow(index) {
      if (failPulls > 0) {
        failPulls -= 1;
        throw new Error('nats restarting');
      }
      return queues[index]!.shift() ?? null;
    },
    pullWait(index) {
      const next = queues[index]!.shift();
      if (next !== undefined) return Promise.resolve(next);
      return new Promise((resolve) => (waiters[index] = resolve));
    },
    async deliver(message, abandon) {
      active += 1;
      maxActive = Math.max(maxActive, active);
      delivered.push(message);
      const g = gate();
      gates.set(message, g);
      abandon.addEventListener('abort', () => {
        abandoned.push(message);
        g.resolve();
      });
      await g.promise;
      active -= 1;
      finished.push(message);
    },
    working(message) {
      working.set(message, (working.get(message) ?? 0) + 1);
    },
    async release(message) {
      released.push(message);
    },
  };

  return {
    port,
    delivered,
    finished,
    released,
    working,
    abandoned,
    maxActive: () => maxActive,
    push(index: number, ...messages: string[]) {
      for (const message of messages) {
        const waiter = waiters[index];
        if (waiter) {
          waiters[index] = undefined;
          waiter(message);
        } else {
          queues[index]!.push(message);
        }
      }
    },
    expire() {
      for (let index = 0; index < consumerCount; index += 1) {
        const waiter = waiters[index];
        waiters[index] = undefined;
        waiter?.(null);
      }
    },
    finish(message: string) {
      const g = gates.get(message);
      if (!g) throw new Error(`${message} is not being delivered`);
      g.resolve();
    },
    polling: (index: number) => waiters[index] !== undefined,
  };
}

const logger = createLogger('test', 'silent');

describe('dispatcher', () => {
  it('fills a freed slot from the highest priority first (strict priority)', async () => {
    const fake = fakePort(3);
    fake.push(2, 'low-1', 'low-2', 'low-3');
    const dispatcher = createDispatcher(fake.port, { maxInFlight: 1, workingIntervalMs: 1_000, logger });
    dispatcher.start();
    await waitFor('first delivery', () => fake.delivered.length === 1);
    fake.push(0, 'high-1', 'high-2');
    fake.push(1, 'medium-1');
    for (const expected of ['low-1', 'high-1', 'high-2', 'medium-1', 'low-2', 'low-3']) {
      await waitFor(`${expected} delivered`, () => fake.delivered.at(-1) === expected);
      fake.finish(expected);
    }
    expect(fake.delivered).toEqual(['low-1', 'high-1', 'high-2', 'medium-1', 'low-2', 'low-3']);
    fake.expire();
    await waitFor('idle polls', () => fake.polling(0) && fake.polling(2));
    const stop = dispatcher.stop(1_000);
    fake.expire();
    expect(await stop).toBe(true);
  });

  it('delivers a message held from a long poll before a lower priority one', async () => {
    const fake = fakePort(2);
    const dispatcher = createDispatcher(fake.port, { maxInFlight: 1, workingIntervalMs: 1_000, logger });
    dispatcher.start();
    await waitFor('long polls on both consumers', () => fake.polling(0) && fake.polling(1));
    fake.push(1, 'low-1');
    await waitFor('low-1 delivered', () => fake.delivered.includes('low-1'));
    fake.push(0, 'high-1'); // lands on the still-waiting high poll while the only slot is busy
    await waitFor('high-1 held', () => dispatcher.held() === 1);
    fake.push(1, 'low-2');
    fake.finish('low-1');
    await waitFor('high-1 delivered', () => fake.delivered.length === 2);
    expect(fake.delivered).toEqual(['low-1', 'high-1']);
    fake.finish('high-1');
    await waitFor('low-2 delivered', () => fake.delivered.length === 3);
    fake.finish('low-2');
    const stop = dispatcher.stop(1_000);
    fake.expire();
    await stop;
  });

  it('never has more deliveries in flight than slots, and pulls no more than it can hold', async () => {
    const fake = fakePort(2);
    fake.push(1, ...Array.from({ length: 20 }, (_, i) => `low-${i}`));
    fake.push(0, ...Array.from({ length: 5 }, (_, i) => `high-${i}`));
    const dispatcher = createDispatcher(fake.port, { maxInFlight: 3, workingIntervalMs: 1_000, logger });
    dispatcher.start();
    await waitFor('three in flight', () => fake.delivered.length === 3);
    expect(dispatcher.inFlight()).toBe(3);
    expect(dispatcher.held()).toBe(0);
    while (fake.finished.length < 25) {
      const next = fake.delivered.find((m) => !fake.finished.includes(m));
      if (next) fake.finish(next);
      await waitFor('progress', () => fake.finished.includes(next ?? '') || fake.finished.length === 25);
      expect(dispatcher.inFlight()).toBeLessThanOrEqual(3);
      expect(dispatcher.held()).toBeLessThanOrEqual(2);
    }
    expect(fake.maxActive()).toBe(3);
    expect(fake.delivered.slice(0, 5)).toEqual(['high-0', 'high-1', 'high-2', 'high-3', 'high-4']);
    const stop = dispatcher.stop(1_000);
    fake.expire();
    await stop;
  });

  it('sends in-progress acks for messages in flight and held', async () => {
    const fake = fakePort(2);
    const dispatcher = createDispatcher(fake.port, { maxInFlight: 1, workingIntervalMs: 10, logger });
    dispatcher.start();
    await waitFor('long polls', () => fake.polling(0) && fake.polling(1));
    fake.push(1, 'slow');
    await waitFor('slow delivered', () => fake.delivered.includes('slow'));
    fake.push(0, 'waiting');
    await waitFor('both kept alive', () => (fake.working.get('slow') ?? 0) >= 3 && (fake.working.get('waiting') ?? 0) >= 2);
    fake.finish('slow');
    await waitFor('waiting delivered', () => fake.delivered.includes('waiting'));
    fake.finish('waiting');
    const stop = dispatcher.stop(1_000);
    fake.expire();
    await stop;
  });

  it('on stop: hands back held messages at once, waits for deliveries in flight', async () => {
    const fake = fakePort(3);
    const dispatcher = createDispatcher(fake.port, { maxInFlight: 1, workingIntervalMs: 1_000, logger });
    dispatcher.start();
    await waitFor('long polls', () => fake.polling(0) && fake.polling(1) && fake.polling(2));
    fake.push(2, 'in-flight');
    await waitFor('delivered', () => fake.delivered.includes('in-flight'));
    fake.push(0, 'held');
    await waitFor('held', () => dispatcher.held() === 1);
    let stopped = false;
    const stop = dispatcher.stop(5_000).then((settled) => {
      stopped = true;
      return settled;
    });
    await waitFor('held message handed back', () => fake.released.includes('held'));
    fake.push(1, 'late'); // a poll answered after stop began is handed back too
    await waitFor('late handed back', () => fake.released.includes('late'));
    expect(stopped).toBe(false);
    fake.expire();
    fake.finish('in-flight');
    expect(await stop).toBe(true);
    expect(fake.delivered).toEqual(['in-flight']);
    expect(fake.finished).toEqual(['in-flight']);
    expect(fake.abandoned).toEqual([]);
  });

  it('abandons deliveries still running when the grace period is over', async () => {
    const fake = fakePort(1);
    fake.push(0, 'stuck');
    const dispatcher = createDispatcher(fake.port, { maxInFlight: 1, workingIntervalMs: 1_000, logger });
    dispatcher.start();
    await waitFor('delivered', () => fake.delivered.includes('stuck'));
    expect(await dispatcher.stop(50)).toBe(false);
    expect(fake.abandoned).toEqual(['stuck']);
  });

  it('backs off after failed pulls and carries on', async () => {
    const fake = fakePort(1, { failPulls: 2 });
    fake.push(0, 'after-outage');
    let errors = 0;
    const dispatcher = createDispatcher(fake.port, {
      maxInFlight: 1,
      workingIntervalMs: 1_000,
      logger,
      minBackoffMs: 5,
      onPullError: () => (errors += 1),
    });
    dispatcher.start();
    await waitFor('delivered after the outage', () => fake.delivered.includes('after-outage'));
    expect(errors).toBe(2);
    fake.finish('after-outage');
    const stop = dispatcher.stop(1_000);
    fake.expire();
    await stop;
  });
});
