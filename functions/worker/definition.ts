// The worker function: its handler wired to Redis (status reads, the cancel channel) and NATS,
// with a handler per task type (the built-ins and the registry file's, type-handlers.ts).
import { ConfigError } from '../../shared/errors';
import type { FunctionDefinition, CommonDeps } from '../../shared/runtime/start-function';
import { createStatusStore } from '../../shared/redis-stores';
import { getMeter } from '../../shared/metrics';
import { createRunMetrics } from '../../shared/task-metrics';
import { readTaskTypes } from '../../shared/task-registry';
import type { TaskTypeSpec } from '../../shared/task-types';
import { createRedisAttemptClaims, toRunLeaseMs } from './attempt-claims';
import { connectCancelSource, type RedisCancelSource } from './cancel-source';
import { createHandler } from './handler';
import { createTypeHandlers, findAttemptProblems, type TypeHandlers } from './type-handlers';

/** docs/design.md §4: progress statuses at most every 100 ms (100 % always goes out). */
export const PROGRESS_INTERVAL_MS = 100;
/** Connections kept open per HTTP handler endpoint. */
const HTTP_HANDLER_MAX_SOCKETS = 64;

export type WorkerConfig = {
  taskTypes: readonly TaskTypeSpec[];
  /** One handler per type, made by `prepare` (module handlers loaded) before connecting. */
  typeHandlers?: TypeHandlers;
  /** Largest answer an HTTP handler may give (TM_HANDLER_MAX_RESPONSE_BYTES). */
  handlerMaxResponseBytes: number;
};

// The cancel subscriber and the HTTP handlers' connection pools are opened by createHandler and
// closed by the stopper that startBackground returns; both receive the same deps object, so it
// is the key that pairs them (several workers may run in one process, as integration tests do).
const opened = new WeakMap<CommonDeps, { cancels: RedisCancelSource; typeHandlers: TypeHandlers }>();

export const definition: FunctionDefinition<WorkerConfig> = {
  name: 'worker',
  readConfig: (reader) => ({
    taskTypes: readTaskTypes(reader),
    handlerMaxResponseBytes: reader.int('TM_HANDLER_MAX_RESPONSE_BYTES', 8 * 1024 * 1024, { min: 1024, max: 512 * 1024 * 1024 }),
  }),
  prepare: async (config, flow) => {
    const problems = findAttemptProblems(config.taskTypes, flow.maxDeliver);
    const typeHandlers = await createTypeHandlers(config.taskTypes, {
      maxResponseBytes: config.handlerMaxResponseBytes,
      maxSockets: HTTP_HANDLER_MAX_SOCKETS,
    }).catch((error: unknown) => {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems);
      return undefined;
    });
    if (problems.length > 0 || !typeHandlers) {
      typeHandlers?.close();
      throw new ConfigError(problems);
    }
    return { ...config, typeHandlers };
  },
  createHandler: async (deps, config) => {
    const { typeHandlers } = config;
    if (!typeHandlers) throw new Error('worker: no task handlers: startFunction runs prepare before createHandler');
    const cancels = await connectCancelSource(deps.redis, deps.logger.child({ part: 'cancels' }));
    opened.set(deps, { cancels, typeHandlers });
    return createHandler({
      publisher: deps.publisher,
      status: createStatusStore(deps.redis),
      // An outcome is remembered as long as a copy of the event can still be in the stream (MaxAge).
      claims: createRedisAttemptClaims(deps.redis, { leaseMs: toRunLeaseMs(deps.flow.ackWaitMs), keepMs: deps.flow.maxAgeMs }),
      cancels,
      handlers: typeHandlers.handlers,
      taskTypes: config.taskTypes,
      flow: deps.flow,
      now: deps.now,
      progressIntervalMs: PROGRESS_INTERVAL_MS,
      metrics: createRunMetrics(getMeter()),
    });
  },
  startBackground: (deps) => async () => {
    const resources = opened.get(deps);
    opened.delete(deps);
    resources?.typeHandlers.close();
    await resources?.cancels.close();
  },
};
