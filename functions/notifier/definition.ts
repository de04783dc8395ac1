// The notifier function: its handler applies status steps to Redis. TM_RETENTION_SECONDS: how
// long a task is kept once a step makes it terminal (the status script sets the expiry).
import { readRetentionSeconds } from '../../shared/config';
import { createStatusStore } from '../../shared/redis-stores';
import type { FunctionDefinition } from '../../shared/runtime/start-function';
import { createHandler } from './handler';

export type NotifierConfig = { retentionSeconds: number };

export const definition: FunctionDefinition<NotifierConfig> = {
  name: 'notifier',
  readConfig: (reader) => ({ retentionSeconds: readRetentionSeconds(reader) }),
  createHandler: (deps, config) => createHandler({ status: createStatusStore(deps.redis, { retentionSeconds: config.retentionSeconds }) }),
};
