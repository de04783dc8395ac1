// The notifier function: no settings of its own; its handler applies status updates to Redis.
import type { FunctionDefinition } from '../../shared/runtime/start-function';
import { applyStatus } from '../../shared/status';
import { createHandler } from './handler';

export const definition: FunctionDefinition<Record<string, never>> = {
  name: 'notifier',
  readConfig: () => ({}),
  createHandler: (deps) => createHandler({ applyStatus: (update) => applyStatus(deps.redis, update) }),
};
