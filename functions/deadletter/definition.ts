// The deadletter function: its handler wired to Redis. `dead_letter` is never trimmed.
import type { EnvReader } from '../../shared/config';
import { KEYS } from '../../shared/contract';
import { createRecordLog } from '../../shared/redis-stores';
import type { FunctionDefinition } from '../../shared/runtime/start-function';
import { createHandler } from './handler';

export type DeadLetterConfig = {
  markerTtlSeconds: number;
};

export const definition: FunctionDefinition<DeadLetterConfig> = {
  name: 'deadletter',
  readConfig: (reader: EnvReader) => ({
    // A day by default: no shorter than MaxAge of the EVENTS stream, so a dead-letter event
    // cannot outlive its marker and be stored twice.
    markerTtlSeconds: reader.int('TM_DEADLETTER_MARKER_TTL_S', 86_400, { min: 60 }),
  }),
  createHandler: (deps, config) =>
    createHandler({
      log: createRecordLog(deps.redis, {
        list: KEYS.deadLetter,
        marker: KEYS.deadLetterSeen,
        cap: 0,
        markerTtlSeconds: config.markerTtlSeconds,
        noun: 'dead letter',
      }),
    }),
};
