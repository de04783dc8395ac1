// The audit function: how many entries `audit_events` keeps, how long an orphan trail lives, and
// its handler wired to Redis.
import { readRetentionSeconds, type EnvReader } from '../../shared/config';
import { createAuditLog } from '../../shared/task-audit';
import type { FunctionDefinition } from '../../shared/runtime/start-function';
import { createHandler } from './handler';

export type AuditConfig = {
  maxEntries: number;
  /** How long a trail whose task is already gone is kept (the task's own trail expires with it). */
  retentionSeconds: number;
};

/** A day: no shorter than MaxAge of the EVENTS stream, so an event cannot outlive its marker. */
export const AUDIT_MARKER_TTL_SECONDS = 86_400;

export const definition: FunctionDefinition<AuditConfig> = {
  name: 'audit',
  readConfig: (reader: EnvReader) => ({
    // At least 1: the list is capped by design (0 would mean uncapped to the Lua script).
    maxEntries: reader.int('TM_AUDIT_MAX', 100_000, { min: 1 }),
    retentionSeconds: readRetentionSeconds(reader),
  }),
  createHandler: (deps, config) =>
    createHandler({
      log: createAuditLog(deps.redis, {
        cap: config.maxEntries,
        markerTtlSeconds: AUDIT_MARKER_TTL_SECONDS,
        retentionSeconds: config.retentionSeconds,
      }),
    }),
};
