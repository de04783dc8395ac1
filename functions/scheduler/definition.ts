// The scheduler function: its settings, its handler wired to Redis and NATS, and the delayed-task
// promoter that runs in the background of every scheduler process.
import type { EnvReader } from '../../shared/config';
import type { FunctionDefinition } from '../../shared/runtime/start-function';
import { readStatus } from '../../shared/status';
import { createDelayedStore } from './delayed-store';
import { COMPONENT, createHandler } from './handler';
import { createPromoter, startPromoterLoop } from './promoter';

export type SchedulerConfig = {
  promoterIntervalMs: number;
  promoterLeaseMs: number;
  promoterBatchSize: number;
};

export function readSchedulerConfig(reader: EnvReader): SchedulerConfig {
  return {
    promoterIntervalMs: reader.int('TM_PROMOTER_INTERVAL_MS', 250, { min: 1, max: 60_000 }),
    // Below the JetStream duplicate window (2 min by default), so a re-claimed id's re-publish
    // is still recognised as a duplicate.
    promoterLeaseMs: reader.int('TM_PROMOTER_LEASE_MS', 30_000, { min: 100, max: 600_000 }),
    promoterBatchSize: reader.int('TM_PROMOTER_BATCH_SIZE', 100, { min: 1, max: 10_000 }),
  };
}

export const definition: FunctionDefinition<SchedulerConfig> = {
  name: 'scheduler',
  readConfig: readSchedulerConfig,
  createHandler: (deps) =>
    createHandler({
      publisher: deps.publisher,
      readStatus: (taskId) => readStatus(deps.redis, taskId),
      store: createDelayedStore(deps.redis),
      now: deps.now,
    }),
  startBackground: (deps, config) => {
    const logger = deps.logger.child({ part: 'promoter' });
    if (config.promoterLeaseMs >= deps.flow.duplicateWindowMs) {
      logger.warn(
        { leaseMs: config.promoterLeaseMs, duplicateWindowMs: deps.flow.duplicateWindowMs },
        'TM_PROMOTER_LEASE_MS is not below the duplicate window: a re-claimed task could be published twice',
      );
    }
    const promoter = createPromoter({
      store: createDelayedStore(deps.redis),
      publisher: deps.publisher,
      logger,
      now: deps.now,
      leaseMs: config.promoterLeaseMs,
      batchSize: config.promoterBatchSize,
      component: COMPONENT,
    });
    return startPromoterLoop(promoter, { intervalMs: config.promoterIntervalMs, logger });
  },
};
