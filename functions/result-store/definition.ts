// The result-store function: its result TTL, its handler wired to Redis and NATS, and the
// GET /results/:id route.
import { readRetentionSeconds, type EnvReader } from '../../shared/config';
import { createResultReader, createResultStore } from '../../shared/redis-stores';
import { getMeter } from '../../shared/metrics';
import { createFinishMetrics } from '../../shared/task-metrics';
import type { FunctionDefinition } from '../../shared/runtime/start-function';
import { createHandler } from './handler';
import { registerResultRoute, toParsedReader } from './results-route';

export type ResultStoreConfig = {
  resultTtlSeconds: number;
};

/** docs/design.md §4: results expire with their task (TM_RETENTION_SECONDS, a week by default);
 * TM_RESULT_TTL_SECONDS keeps them for another time. */
export function readResultStoreConfig(reader: EnvReader): ResultStoreConfig {
  return {
    resultTtlSeconds: reader.int('TM_RESULT_TTL_SECONDS', readRetentionSeconds(reader), { min: 1, max: 10 * 365 * 24 * 60 * 60 }),
  };
}

export const definition: FunctionDefinition<ResultStoreConfig> = {
  name: 'result-store',
  readConfig: readResultStoreConfig,
  createHandler: (deps, config) =>
    createHandler({
      publisher: deps.publisher,
      results: createResultStore(deps.redis, config.resultTtlSeconds),
      now: deps.now,
      metrics: createFinishMetrics(getMeter()),
    }),
  routes: (app, deps) => registerResultRoute(app, toParsedReader(createResultReader(deps.redis)), deps.logger.child({ part: 'results' })),
};
