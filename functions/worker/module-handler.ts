// A task type whose handler is a module the worker loads at start-up (DESIGN §9): JavaScript, or
// TypeScript with erasable syntax only (Node's type stripping loads it as it is), typed with
// client/handler.ts. It exports `handle(payload, { signal, attempt, progress })`, as its default
// export's method (`export default defineTaskHandler({ handle })`) or by name.
//
// A module that cannot be loaded or exports no handle function stops the worker at start-up:
// finding that out on the first task would fail tasks instead of a deploy.
import { pathToFileURL } from 'node:url';
import { ConfigError, describeError, PermanentError } from '../../shared/errors';
import type { TaskHandler } from './handlers';

type HandleFunction = (payload: unknown, context: { signal: AbortSignal; attempt: number; progress(percent: number, message?: string): Promise<void> }) => unknown;

/** The module's handle function: `default.handle`, a named `handle`, or CommonJS's equivalents. */
export function findHandle(loaded: unknown): HandleFunction | undefined {
  const candidates = [loaded, (loaded as { default?: unknown } | null)?.default, (loaded as { default?: { default?: unknown } } | null)?.default?.default];
  for (const candidate of candidates) {
    const handle = (candidate as { handle?: unknown } | null | undefined)?.handle;
    if (typeof handle === 'function') return handle.bind(candidate) as HandleFunction;
  }
  return undefined;
}

/** PermanentTaskError (client/handler.ts), or any error marked `retryable: false`, fails the task
 * at once; the module has its own copy of the class, so it is recognised by that mark. */
function toWorkerError(error: unknown): unknown {
  if ((error as { retryable?: unknown } | null)?.retryable === false) {
    return new PermanentError(describeError(error), { cause: error });
  }
  return error;
}

export async function loadModuleHandler(type: string, path: string): Promise<TaskHandler> {
  let loaded: unknown;
  try {
    loaded = await import(pathToFileURL(path).href);
  } catch (error) {
    throw new ConfigError([`task type "${type}": module ${path} cannot be loaded: ${describeError(error)}`]);
  }
  const handle = findHandle(loaded);
  if (!handle) {
    throw new ConfigError([`task type "${type}": module ${path} exports no handle(payload, context) function (export default defineTaskHandler({ handle }))`]);
  }
  return {
    type,
    async run(payload, ctx) {
      try {
        return await handle(payload, { signal: ctx.signal, attempt: ctx.attempt, progress: ctx.reportProgress });
      } catch (error) {
        throw toWorkerError(error);
      }
    },
  };
}
