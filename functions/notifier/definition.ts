// The notifier function: no settings of its own; its handler applies status steps to Redis.
import { createStatusStore } from '../../shared/redis-stores';
import type { FunctionDefinition } from '../../shared/runtime/start-function';
import { createHandler } from './handler';

export const definition: FunctionDefinition<Record<string, never>> = {
  name: 'notifier',
  readConfig: () => ({}),
  createHandler: (deps) => createHandler({ status: createStatusStore(deps.redis) }),
};
