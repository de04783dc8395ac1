import { describe, expect, it, vi } from 'vitest';
import { ValidationError } from '../shared/errors';
import { createLogger } from '../shared/logger';
import type { QueueStatsSnapshot } from '../shared/queue-stats';
import type { QueueName } from '../shared/queues';
import { PermissionDeniedError } from './errors';
import { getQueueStats, pauseQueue, resumeQueue, type QueueAdmin } from './queue-admin';

const snapshot: QueueStatsSnapshot = {
  queues: [
    { queue: 'worker.high', pending: 1, inFlight: 2, oldestPendingAgeMs: 30, consumers: 1 },
    { queue: 'worker.medium', pending: 7, inFlight: 0, oldestPendingAgeMs: 900, consumers: 1 },
  ],
  sampledAtMs: 1_000,
  delayed: 4,
  deadLetters: 3,
  deadLettersDropped: 1,
  deadLetterCap: 10,
};

function adminFor() {
  const pauses = {
    pause: vi.fn(async (_queue: QueueName, _by?: string) => undefined),
    resume: vi.fn(async (_queue: QueueName, _by?: string) => undefined),
    paused: vi.fn(async () => new Map([['worker.medium' as QueueName, { by: 'ops', sinceMs: 5 }]])),
  };
  const stats = { read: vi.fn(async (_tenant: string) => snapshot) };
  const admin: QueueAdmin = { stats, pauses, operatorTenants: new Set(['ops']), logger: createLogger('test', 'silent') };
  return { admin, pauses, stats };
}

describe('queue admin', () => {
  it('shows an operator every queue with its pause state, and the delayed tasks', async () => {
    const { admin } = adminFor();
    const stats = await getQueueStats(admin, 'ops');
    expect(stats.queues).toEqual([
      { queue: 'worker.high', pending: 1, in_flight: 2, oldest_pending_age_ms: 30, paused: false },
      { queue: 'worker.medium', pending: 7, in_flight: 0, oldest_pending_age_ms: 900, paused: true },
    ]);
    expect(stats).toMatchObject({ delayed: 4, dead_letters: 3, dead_letters_dropped: 1, dead_letter_cap: 10, read_at_ms: 1_000 });
  });

  it('shows another tenant only its own dead letters, and reads no pause state for it', async () => {
    const { admin, pauses, stats } = adminFor();
    expect(await getQueueStats(admin, 'acme')).toMatchObject({ queues: [], delayed: 0, dead_letters: 3, dead_letters_dropped: 1, dead_letter_cap: 10 });
    expect(stats.read).toHaveBeenCalledWith('acme');
    expect(pauses.paused).not.toHaveBeenCalled();
  });

  it('pauses and resumes for an operator, naming who', async () => {
    const { admin, pauses } = adminFor();
    expect(await pauseQueue(admin, { queue: 'worker.low' }, 'ops')).toEqual({ queue: 'worker.low', paused: true });
    expect(pauses.pause).toHaveBeenCalledWith('worker.low', 'ops');
    expect(await resumeQueue(admin, { queue: 'worker.low' }, 'ops')).toEqual({ queue: 'worker.low', paused: false });
    expect(pauses.resume).toHaveBeenCalledWith('worker.low', 'ops');
  });

  it('refuses an unknown queue and a tenant that is not an operator, changing nothing', async () => {
    const { admin, pauses } = adminFor();
    await expect(pauseQueue(admin, { queue: 'worker' }, 'ops')).rejects.toThrow(ValidationError);
    await expect(pauseQueue(admin, { queue: 'worker' }, 'ops')).rejects.toThrow(/^queue: unknown queue "worker" \(known: ingest, schedule, worker.high/);
    await expect(pauseQueue(admin, { queue: 'worker.low' }, 'acme')).rejects.toThrow(PermissionDeniedError);
    await expect(resumeQueue(admin, { queue: 'worker.low' }, 'acme')).rejects.toThrow(/tenant acme may not resume queues/);
    expect(pauses.pause).not.toHaveBeenCalled();
    expect(pauses.resume).not.toHaveBeenCalled();
  });
});
