// pino JSON logs to stdout. Entry points create the root logger; library code takes a logger
// and derives children, never creating its own.
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

export function createLogger(component: string, level = 'info'): Logger {
  return pino({ level, base: { component }, timestamp: pino.stdTimeFunctions.isoTime });
}

const LEVEL_METHODS: ReadonlySet<PropertyKey> = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace']);
const skip = () => undefined;

/**
 * A child logger made only when something is logged through it. Deliveries and events each get
 * a logger carrying their ids, and nearly all of them log nothing: pino's `child()` per event was
 * a visible share of a stage's CPU. A call at a level that is off costs no child either.
 */
export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  let child: Logger | undefined;
  return new Proxy(parent, {
    get(target, property) {
      if (LEVEL_METHODS.has(property) && !target.isLevelEnabled(property as string)) return skip;
      child ??= target.child(bindings);
      const value = Reflect.get(child, property, child) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(child) : value;
    },
  });
}
