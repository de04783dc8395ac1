// GetQueueStats, PauseQueue and ResumeQueue (DESIGN §3). The queues are the deployment's, shared
// by every tenant: pausing one stops every tenant's tasks in it, and its depth says how busy the
// others are. So only operator tenants (TM_OPERATOR_TENANTS; `default` while authentication is
// off) may pause, resume or see queue figures; every tenant sees its own dead letters, the cap
// that bounds them and what the cap dropped (docs/decisions/0015-replay-dead-letters.md).
import type { QueuePauses } from '../shared/queue-pauses';
import type { QueueStatsReader } from '../shared/queue-stats';
import { isQueueName, QUEUE_NAMES, type QueueName } from '../shared/queues';
import type { Logger } from '../shared/logger';
import { PermissionDeniedError } from './errors';
import type { QueueRequest, QueueResponse, QueueStats } from './proto';
import { invalid } from './validation';

export type QueueAdmin = {
  stats: Pick<QueueStatsReader, 'read'>;
  pauses: Pick<QueuePauses, 'pause' | 'resume' | 'paused'>;
  operatorTenants: ReadonlySet<string>;
  logger: Logger;
};

function toQueue(request: QueueRequest): QueueName {
  const queue = typeof request.queue === 'string' ? request.queue : '';
  if (!isQueueName(queue)) throw invalid('queue', `unknown queue ${JSON.stringify(queue)} (known: ${QUEUE_NAMES.join(', ')})`);
  return queue;
}

function assertOperator(admin: QueueAdmin, tenant: string, action: string): void {
  if (!admin.operatorTenants.has(tenant)) {
    throw new PermissionDeniedError(`tenant ${tenant} may not ${action}: queues are shared by every tenant (TM_OPERATOR_TENANTS names who may)`);
  }
}

export async function getQueueStats(admin: QueueAdmin, tenant: string): Promise<QueueStats> {
  const operator = admin.operatorTenants.has(tenant);
  const [snapshot, paused] = await Promise.all([admin.stats.read(tenant), operator ? admin.pauses.paused() : undefined]);
  return {
    queues: operator
      ? snapshot.queues.map((queue) => ({
          queue: queue.queue,
          pending: queue.pending,
          in_flight: queue.inFlight,
          oldest_pending_age_ms: queue.oldestPendingAgeMs,
          paused: paused?.has(queue.queue) ?? false,
        }))
      : [],
    delayed: operator ? snapshot.delayed : 0,
    dead_letters: snapshot.deadLetters,
    dead_letters_dropped: snapshot.deadLettersDropped,
    dead_letter_cap: snapshot.deadLetterCap,
    read_at_ms: snapshot.sampledAtMs,
  };
}

export async function pauseQueue(admin: QueueAdmin, request: QueueRequest, tenant: string): Promise<QueueResponse> {
  const queue = toQueue(request);
  assertOperator(admin, tenant, 'pause queues');
  await admin.pauses.pause(queue, tenant);
  admin.logger.warn({ queue, tenant }, 'queue paused');
  return { queue, paused: true };
}

export async function resumeQueue(admin: QueueAdmin, request: QueueRequest, tenant: string): Promise<QueueResponse> {
  const queue = toQueue(request);
  assertOperator(admin, tenant, 'resume queues');
  await admin.pauses.resume(queue, tenant);
  admin.logger.info({ queue, tenant }, 'queue resumed');
  return { queue, paused: false };
}
