// The audit function: how many entries `audit_events` keeps, and its handler wired to Redis.
import type { EnvReader } from '../../shared/config';
import { KEYS } from '../../shared/contract';
import { createRecordLog } from '../../shared/redis-stores';
import type { FunctionDefinition } from '../../shared/runtime/start-function';
import { createHandler } from './handler';

export type AuditConfig = {
  maxEntries: number;
};

/** A day: no shorter than MaxAge of the EVENTS stream, so an event cannot outlive its marker. */
export const AUDIT_MARKER_TTL_SECONDS = 86_400;

export const definition: FunctionDefinition<AuditConfig> = {
  name: 'audit',
  readConfig: (reader: EnvReader) => ({
    // At least 1: the list is capped by design (0 would mean uncapped to the Lua script).
    maxEntries: reader.int('TM_AUDIT_MAX', 100_000, { min: 1 }),
  }),
  createHandler: (deps, config) =>
    createHandler({
      log: createRecordLog(deps.redis, {
        list: KEYS.auditEvents,
        marker: (id) => KEYS.processed('audit', id),
        cap: config.maxEntries,
        markerTtlSeconds: AUDIT_MARKER_TTL_SECONDS,
        noun: 'audit record',
      }),
    }),
};
