// The worker function: its handler wired to Redis (status reads, the cancel channel) and NATS.
import type { FunctionDefinition, CommonDeps } from '../../shared/runtime/start-function';
import { createStatusStore } from '../../shared/redis-stores';
import { TASK_TYPES } from '../../shared/task-types';
import { createRedisAttemptClaims, toRunLeaseMs } from './attempt-claims';
import { connectCancelSource, type RedisCancelSource } from './cancel-source';
import { createHandler } from './handler';
import { HANDLERS } from './handlers';

/** docs/design.md §4: progress statuses at most every 100 ms (100 % always goes out). */
export const PROGRESS_INTERVAL_MS = 100;

export type WorkerConfig = Record<string, never>;

// The cancel subscriber is opened by createHandler and closed by the stopper that
// startBackground returns; both receive the same deps object, so it is the key that pairs them
// (several workers may run in one process, as integration tests do).
const cancelSources = new WeakMap<CommonDeps, RedisCancelSource>();

export const definition: FunctionDefinition<WorkerConfig> = {
  name: 'worker',
  readConfig: () => ({}),
  createHandler: async (deps) => {
    const cancels = await connectCancelSource(deps.redis, deps.logger.child({ part: 'cancels' }));
    cancelSources.set(deps, cancels);
    return createHandler({
      publisher: deps.publisher,
      status: createStatusStore(deps.redis),
      // An outcome is remembered as long as a copy of the event can still be in the stream (MaxAge).
      claims: createRedisAttemptClaims(deps.redis, { leaseMs: toRunLeaseMs(deps.flow.ackWaitMs), keepMs: deps.flow.maxAgeMs }),
      cancels,
      handlers: HANDLERS,
      taskTypes: TASK_TYPES,
      flow: deps.flow,
      now: deps.now,
      progressIntervalMs: PROGRESS_INTERVAL_MS,
    });
  },
  startBackground: (deps) => async () => {
    await cancelSources.get(deps)?.close();
    cancelSources.delete(deps);
  },
};
