// pino JSON logs to stdout. Entry points create the root logger; library code takes a logger
// and derives children, never creating its own.
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

export function createLogger(component: string, level = 'info'): Logger {
  return pino({ level, base: { component }, timestamp: pino.stdTimeFunctions.isoTime });
}
