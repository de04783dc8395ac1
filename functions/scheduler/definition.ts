// The scheduler function: its settings, its handler wired to Redis and NATS, and its background
// work: the delayed-task promoter, and the reconciler (one sweep at a time across replicas).
import { nuid } from '../../shared/nuid';
import type { EnvReader } from '../../shared/config';
import { createHeldReader } from '../../shared/consumer-holds';
import { CONSUMERS, type FlowSettings } from '../../shared/contract';
import { createEmitter } from '../../shared/emit';
import type { CommonDeps, FunctionDefinition } from '../../shared/runtime/start-function';
import { createStatusStore } from '../../shared/redis-stores';
import { createRetentionSweeper } from '../../shared/task-retention';
import { startBackgroundLoop } from './background-loop';
import { createDelayedStore } from './delayed-store';
import { COMPONENT, createHandler } from './handler';
import { createPromoter } from './promoter';
import { createReconciler, RECONCILER_STAGE, type ReconcilerSettings } from './reconciler';
import { createLease, createReconcilerStore } from './reconciler-deps';
import { appendMetrics, PROMETHEUS_CONTENT_TYPE } from '../../shared/metrics';
import { createReconcilerCounters, type ReconcilerCounters } from './reconciler-metrics';

export type SchedulerConfig = {
  promoterIntervalMs: number;
  promoterLeaseMs: number;
  promoterBatchSize: number;
  reconcilerIntervalMs: number;
  /** Overrides of the reconciler's bounds; absent = derived from the flow settings. */
  reconcilerStaleAfterMs: number | undefined;
  reconcilerForceAfterMs: number | undefined;
  reconcilerMaxRedrives: number;
  /** How often finished tasks past their retention leave the ListTasks indexes. */
  retentionSweepIntervalMs: number;
};

export function readSchedulerConfig(reader: EnvReader): SchedulerConfig {
  const optional = (name: string) => {
    const value = reader.int(name, 0, { min: 0 });
    return value > 0 ? value : undefined;
  };
  return {
    retentionSweepIntervalMs: reader.int('TM_RETENTION_SWEEP_INTERVAL_MS', 60_000, { min: 100, max: 3_600_000 }),
    promoterIntervalMs: reader.int('TM_PROMOTER_INTERVAL_MS', 250, { min: 1, max: 60_000 }),
    // Below the JetStream duplicate window (2 min by default), so a re-claimed id's re-publish
    // is still recognised as a duplicate.
    promoterLeaseMs: reader.int('TM_PROMOTER_LEASE_MS', 30_000, { min: 100, max: 600_000 }),
    promoterBatchSize: reader.int('TM_PROMOTER_BATCH_SIZE', 100, { min: 1, max: 10_000 }),
    reconcilerIntervalMs: reader.int('TM_RECONCILER_INTERVAL_MS', 5_000, { min: 100, max: 600_000 }),
    reconcilerStaleAfterMs: optional('TM_RECONCILER_STALE_AFTER_MS'),
    reconcilerForceAfterMs: optional('TM_RECONCILER_FORCE_AFTER_MS'),
    reconcilerMaxRedrives: reader.int('TM_RECONCILER_MAX_REDRIVES', 3, { min: 1, max: 100 }),
  };
}

/** Clock difference allowed between a stage that reported a status and nats-server. */
const CLOCK_SLACK_MS = 5_000;

/**
 * The reconciler's bounds (docs/reliability.md): a task is stale once no status change came for
 * AckWait plus the longest retry delay plus the clock slack, the longest a live task goes quiet
 * while JetStream redelivers it; it is re-driven even while its stage holds older messages
 * after ten times that, but not before 10 minutes (a backlog drains meanwhile).
 */
export function toReconcilerSettings(flow: FlowSettings, config: SchedulerConfig): ReconcilerSettings {
  const staleAfterMs = config.reconcilerStaleAfterMs ?? flow.ackWaitMs + Math.max(...flow.retryDelaysMs) + CLOCK_SLACK_MS;
  return {
    staleAfterMs,
    forceAfterMs: config.reconcilerForceAfterMs ?? Math.max(10 * staleAfterMs, 600_000),
    slackMs: CLOCK_SLACK_MS,
    maxRedrives: config.reconcilerMaxRedrives,
    batchSize: 100,
  };
}

// The counters are made by `routes` (GET /metrics) and fed by `startBackground`; both receive
// the same deps object, so it pairs them (several schedulers may run in one test process).
const countersOf = new WeakMap<CommonDeps, ReconcilerCounters>();
const counters = (deps: CommonDeps) => {
  let found = countersOf.get(deps);
  if (!found) countersOf.set(deps, (found = createReconcilerCounters()));
  return found;
};

function startReconciler(deps: CommonDeps, config: SchedulerConfig): () => Promise<void> {
  const logger = deps.logger.child({ part: RECONCILER_STAGE });
  const settings = toReconcilerSettings(deps.flow, config);
  const reconciler = createReconciler({
    ...createReconcilerStore(deps.redis, { redriveMemoryMs: deps.flow.maxAgeMs }),
    oldestHeldMs: createHeldReader(deps.nats),
    statusConsumer: CONSUMERS.notifier[0],
    publish: (subject, event) => deps.publisher.publish(subject, event),
    emit: createEmitter(deps.publisher, RECONCILER_STAGE, deps.now),
    metrics: counters(deps),
    logger,
    now: deps.now,
    settings,
  });
  // The holder's id only has to differ from every other scheduler's (shared/nuid.ts).
  const holdLease = createLease(deps.redis, nuid.next(), config.reconcilerIntervalMs * 3);
  logger.info({ staleAfterMs: settings.staleAfterMs, forceAfterMs: settings.forceAfterMs }, 'reconciler started');
  return startBackgroundLoop(
    { runOnce: async () => ((await holdLease()) ? reconciler.sweep() : 0) },
    { intervalMs: config.reconcilerIntervalMs, logger, name: RECONCILER_STAGE },
  );
}

export const definition: FunctionDefinition<SchedulerConfig> = {
  name: 'scheduler',
  readConfig: readSchedulerConfig,
  createHandler: (deps) =>
    createHandler({
      publisher: deps.publisher,
      status: createStatusStore(deps.redis),
      store: createDelayedStore(deps.redis),
      now: deps.now,
    }),
  routes: (app, deps) => {
    app.get('/metrics', async (_req, res) => {
      res.status(200).type(PROMETHEUS_CONTENT_TYPE).send(await appendMetrics(counters(deps).render()));
    });
  },
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
    const stopPromoter = startBackgroundLoop(promoter, { intervalMs: config.promoterIntervalMs, logger });
    const stopReconciler = startReconciler(deps, config);
    // Every scheduler sweeps: taking out what is already out changes nothing (task-retention.ts).
    const sweeper = createRetentionSweeper(deps.redis, { now: deps.now });
    const stopSweeper = startBackgroundLoop(
      { runOnce: () => sweeper.sweep() },
      { intervalMs: config.retentionSweepIntervalMs, logger: deps.logger.child({ part: 'retention' }), name: 'retention sweep' },
    );
    return async () => {
      await Promise.all([stopPromoter(), stopReconciler(), stopSweeper()]);
    };
  },
};
