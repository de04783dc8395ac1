// The worker's handler for every task type it knows: the built-ins' code by name, an HTTP client
// per `http` type, the loaded module per `module` type (DESIGN §9). A registry type may also run
// a built-in under its own name, schema and limits (`builtin: echo`).
import { ConfigError } from '../../shared/errors';
import { TASK_TYPES, type TaskTypeSpec } from '../../shared/task-types';
import { HANDLERS, type TaskHandler } from './handlers';
import { createHttpTaskHandler, type HttpHandlerOptions } from './http-handler';
import { loadModuleHandler } from './module-handler';

export type TypeHandlers = { handlers: TaskHandler[]; close(): void };

function builtinHandler(type: string, name: string): TaskHandler {
  const handler = HANDLERS.find((candidate) => candidate.type === name);
  if (!handler) throw new ConfigError([`task type "${type}": no built-in handler "${name}"`]);
  return handler.type === type ? handler : { type, run: handler.run };
}

/** Every type's handler; modules that do not load stop the start-up (one ConfigError naming
 * each of them). */
export async function createTypeHandlers(types: readonly TaskTypeSpec[], http: HttpHandlerOptions): Promise<TypeHandlers> {
  const closers: (() => void)[] = [];
  const settled = await Promise.allSettled(
    types.map(async (spec): Promise<TaskHandler> => {
      switch (spec.handler.kind) {
        case 'builtin':
          return builtinHandler(spec.type, spec.handler.name);
        case 'http': {
          const handler = createHttpTaskHandler(spec.type, spec.handler.url, http);
          closers.push(handler.close);
          return handler;
        }
        case 'module':
          return loadModuleHandler(spec.type, spec.handler.path);
      }
    }),
  );
  const close = () => closers.forEach((closeOne) => closeOne());
  const failures = settled.flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []));
  if (failures.length > 0) {
    close();
    throw new ConfigError(failures.flatMap((failure) => (failure instanceof ConfigError ? failure.problems : [String(failure)])));
  }
  const handlers = settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  return { handlers, close };
}

/** Types whose attempt budget the source cannot give: it stops after TM_MAX_DELIVER deliveries. */
export function findAttemptProblems(types: readonly TaskTypeSpec[], maxDeliver: number): string[] {
  return types
    .filter((spec) => !TASK_TYPES.includes(spec) && spec.maxAttempts > maxDeliver)
    .map((spec) => `task type "${spec.type}": max_attempts ${spec.maxAttempts} exceeds TM_MAX_DELIVER ${maxDeliver} (the source delivers a task at most that often)`);
}
