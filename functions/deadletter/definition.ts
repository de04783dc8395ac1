// The deadletter function: its handler wired to Redis (shared/dead-letters.ts).
import type { EnvReader } from '../../shared/config';
import { createDeadLetterStore, readDeadLetterCap } from '../../shared/dead-letters';
import type { FunctionDefinition } from '../../shared/runtime/start-function';
import { createHandler } from './handler';

export type DeadLetterConfig = {
  markerTtlSeconds: number;
  /** Most dead letters kept per tenant; the oldest go first, counted (TM_DEADLETTER_CAP). */
  cap: number;
};

export const definition: FunctionDefinition<DeadLetterConfig> = {
  name: 'deadletter',
  readConfig: (reader: EnvReader) => ({
    // A day by default: no shorter than MaxAge of the EVENTS stream, so a dead-letter event
    // cannot outlive its marker and be stored twice.
    markerTtlSeconds: reader.int('TM_DEADLETTER_MARKER_TTL_S', 86_400, { min: 60 }),
    cap: readDeadLetterCap(reader),
  }),
  createHandler: (deps, config) =>
    createHandler({ store: createDeadLetterStore(deps.redis, { markerTtlSeconds: config.markerTtlSeconds, cap: config.cap }) }),
};
