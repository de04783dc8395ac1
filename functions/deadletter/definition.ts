// The deadletter function: its handler wired to Redis (shared/dead-letters.ts).
import type { EnvReader } from '../../shared/config';
import { createDeadLetterStore, readDeadLetterCap } from '../../shared/dead-letters';
import { getMeter } from '../../shared/metrics';
import { createDeadLetterMetrics } from '../../shared/task-metrics';
import type { FunctionDefinition } from '../../shared/runtime/start-function';
import { createHandler } from './handler';

export type DeadLetterConfig = {
  markerTtlSeconds: number;
  /** Most dead letters kept per tenant; the oldest go first, counted (TM_DEADLETTER_CAP). */
  cap: number;
  /** Entries the global `dead_letter` list keeps, newest first (TM_DEADLETTER_LIST_MAX). */
  listCap: number;
};

export const definition: FunctionDefinition<DeadLetterConfig> = {
  name: 'deadletter',
  readConfig: (reader: EnvReader) => ({
    // A day by default: no shorter than MaxAge of the EVENTS stream, so a dead-letter event
    // cannot outlive its marker and be stored twice.
    markerTtlSeconds: reader.int('TM_DEADLETTER_MARKER_TTL_S', 86_400, { min: 60 }),
    cap: readDeadLetterCap(reader),
    listCap: reader.int('TM_DEADLETTER_LIST_MAX', 100_000, { min: 1, max: 100_000_000 }),
  }),
  createHandler: (deps, config) =>
    createHandler({
      store: createDeadLetterStore(deps.redis, { markerTtlSeconds: config.markerTtlSeconds, cap: config.cap, listCap: config.listCap }),
      metrics: createDeadLetterMetrics(getMeter()),
    }),
};
