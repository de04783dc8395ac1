import { describe, expect, it } from 'vitest';
import { CONSUMERS } from '../shared/contract';
import type { PausedQueues, QueuePause } from '../shared/queue-pauses';
import type { QueueName } from '../shared/queues';
import { startPauseGate, toPausedConsumers } from './pause-gate';

const pause: QueuePause = { by: 'ops', sinceMs: 1 };

describe('pause gate', () => {
  it('pauses exactly the consumers of paused queues', () => {
    expect(toPausedConsumers(CONSUMERS.worker, new Map([['worker.medium', pause]]))).toEqual([false, true, false]);
    expect(toPausedConsumers(CONSUMERS.audit, new Map([['audit', pause]]))).toEqual([true, true]);
  });

  it('applies the pauses before it says the state is known and asks the dispatcher to pull', () => {
    const calls: string[] = [];
    let onChange: ((paused: PausedQueues, known: boolean) => void) | undefined;
    let watched: readonly QueueName[] = [];
    startPauseGate({
      watch: (queues, callback) => {
        watched = queues;
        onChange = callback;
        return { known: () => false, paused: () => new Map(), stop: () => undefined };
      },
      consumers: CONSUMERS.worker,
      dispatcher: {
        pause: (index) => void calls.push(`pause ${index}`),
        resume: (index) => void calls.push(`resume ${index}`),
        refill: () => void calls.push('refill'),
      },
      setKnown: (known) => void calls.push(`known ${known}`),
    });
    expect(watched).toEqual(['worker.high', 'worker.medium', 'worker.low']);
    expect(calls).toEqual([]);
    onChange!(new Map([['worker.medium', pause]]), true);
    expect(calls).toEqual(['resume 0', 'pause 1', 'resume 2', 'known true', 'refill']);
    calls.length = 0;
    onChange!(new Map(), true);
    expect(calls).toEqual(['resume 0', 'resume 1', 'resume 2', 'known true', 'refill']);
  });
});
