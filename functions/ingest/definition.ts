// The ingest function: its settings and how its handler is wired to Redis, NATS and the enricher.
import type { EnvReader } from '../../shared/config';
import type { FunctionDefinition } from '../../shared/runtime/start-function';
import { getMeter } from '../../shared/metrics';
import { createFinishMetrics } from '../../shared/task-metrics';
import { createStatusStore } from '../../shared/redis-stores';
import { readTaskTypes } from '../../shared/task-registry';
import { createPayloadValidator, type TaskTypeSpec } from '../../shared/task-types';
import { findFunction } from '../../shared/topology';
import { createEnricherClient } from './enricher-client';
import { createHandler } from './handler';

export type IngestConfig = {
  enricherUrl: string;
  enricherTimeoutMs: number;
  /** The built-ins and the registry file's types (TM_TASK_TYPES_FILE): their payload schemas. */
  taskTypes: readonly TaskTypeSpec[];
};

export const definition: FunctionDefinition<IngestConfig> = {
  name: 'ingest',
  readConfig: (reader: EnvReader) => ({
    enricherUrl: reader.url('ENRICHER_URL', `http://127.0.0.1:${findFunction('enricher').port}`),
    enricherTimeoutMs: reader.int('TM_ENRICHER_TIMEOUT_MS', 2_000, { min: 1, max: 600_000 }),
    taskTypes: readTaskTypes(reader),
  }),
  createHandler: (deps, config) =>
    createHandler({
      publisher: deps.publisher,
      status: createStatusStore(deps.redis),
      validatePayload: createPayloadValidator(config.taskTypes),
      enrich: createEnricherClient({ url: config.enricherUrl, timeoutMs: config.enricherTimeoutMs }),
      enricherTimeoutMs: config.enricherTimeoutMs,
      now: deps.now,
      metrics: createFinishMetrics(getMeter(), config.taskTypes.map((spec) => spec.type)),
    }),
};
