import { describe, expect, it } from 'vitest';
import { ALL_CONSUMERS, CONSUMERS } from './contract';
import { QUEUES, QUEUE_NAMES, isQueueName, queueOf, queuesOf } from './queues';

describe('queues', () => {
  it('every consumer belongs to exactly one queue, and every queue has one', () => {
    for (const consumer of ALL_CONSUMERS) {
      expect(QUEUES.filter((queue) => queue.consumers.includes(consumer)), consumer.durable).toHaveLength(1);
    }
    for (const queue of QUEUES) expect(queue.consumers.length, queue.name).toBeGreaterThan(0);
    expect(QUEUES.map((queue) => queue.name)).toEqual([...QUEUE_NAMES]);
  });

  it('names the queue of a consumer and knows the names', () => {
    expect(queueOf({ durable: 'worker-medium' })).toBe('worker.medium');
    expect(queueOf({ durable: 'audit-status' })).toBe('audit');
    expect(isQueueName('worker.low')).toBe(true);
    expect(isQueueName('worker')).toBe(false);
  });

  it('names the queues of some consumers, each once, in their order', () => {
    expect(queuesOf(CONSUMERS.worker)).toEqual(['worker.high', 'worker.medium', 'worker.low']);
    // The audit stage reads two consumers, both of the one queue `audit`.
    expect(queuesOf(CONSUMERS.audit)).toEqual(['audit']);
  });
});
