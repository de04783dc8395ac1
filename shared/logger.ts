// JSON log lines to stdout, one per call, in pino's line format: the level as pino's number, an
// ISO time, the component, the bindings of the logger's children, the call's fields, then `msg`.
// The compose stack's log pipeline (decisions/0007) and `npm start`'s formatter
// (scripts/log-format.ts) read exactly that. Entry points create the root logger; library code
// takes a logger and derives children, never creating its own.
//
// Why not pino itself: loading and creating it cost every process about 15 ms of its cold start
// (its modules, sonic-boom, the first line's lazily compiled write path), more than the whole
// logger below; we used none of its transports, redaction or serializer options.
import { writeSync } from 'node:fs';

export const LOG_LEVELS = { fatal: 60, error: 50, warn: 40, info: 30, debug: 20, trace: 10 } as const;
export type LevelName = keyof typeof LOG_LEVELS;
/** LOG_LEVEL's values: a level, or `silent` for no lines at all. */
export const LOG_LEVEL_NAMES: readonly string[] = [...Object.keys(LOG_LEVELS), 'silent'];

export type LogFn = {
  (fields: object, message?: string, ...args: unknown[]): void;
  (message: string, ...args: unknown[]): void;
};

export type Logger = {
  readonly level: string;
  fatal: LogFn;
  error: LogFn;
  warn: LogFn;
  info: LogFn;
  debug: LogFn;
  trace: LogFn;
  /** A logger whose lines carry `bindings` too (serialised once, here). */
  child(bindings: Record<string, unknown>): Logger;
  isLevelEnabled(level: string): boolean;
};

/** Where lines go: stdout unless a test gives its own. Each call gets one whole line. */
export type LogDestination = { write(line: string): void };

export function createLogger(component: string, level = 'info', destination: LogDestination = STDOUT): Logger {
  if (!LOG_LEVEL_NAMES.includes(level)) {
    throw new Error(`unknown log level "${level}" (LOG_LEVEL): use one of ${LOG_LEVEL_NAMES.join(', ')}`);
  }
  const threshold = level === 'silent' ? Infinity : LOG_LEVELS[level as LevelName];
  return makeLogger({ level, threshold, destination }, `,${toJsonMembers({ component })}`);
}

type Root = Readonly<{ level: string; threshold: number; destination: LogDestination }>;

function makeLogger(root: Root, bindingsJson: string): Logger {
  const method = (name: LevelName): LogFn => {
    const value = LOG_LEVELS[name];
    if (value < root.threshold) return skip;
    const head = `{"level":${value},"time":"`;
    return (first: unknown, ...rest: unknown[]) => root.destination.write(`${head}${new Date().toISOString()}"${bindingsJson}${toCallJson(first, rest)}}\n`);
  };
  return {
    level: root.level,
    fatal: method('fatal'),
    error: method('error'),
    warn: method('warn'),
    info: method('info'),
    debug: method('debug'),
    trace: method('trace'),
    child: (bindings) => {
      const members = toJsonMembers(bindings);
      return makeLogger(root, members ? `${bindingsJson},${members}` : bindingsJson);
    },
    isLevelEnabled: (name) => name in LOG_LEVELS && LOG_LEVELS[name as LevelName] >= root.threshold,
  };
}

const skip: LogFn = () => undefined;

/** The call's own members: its fields (an Error alone stands for `{ err }`), then `msg`. */
function toCallJson(first: unknown, rest: unknown[]): string {
  if (typeof first === 'string') return `,"msg":${JSON.stringify(interpolate(first, rest))}`;
  const fields = first instanceof Error ? { err: first } : (first as Record<string, unknown> | null);
  const template = rest[0];
  const message = typeof template === 'string' ? interpolate(template, rest.slice(1)) : first instanceof Error ? first.message : undefined;
  const members = fields && typeof fields === 'object' ? toJsonMembers(fields) : '';
  return `${members ? `,${members}` : ''}${message === undefined ? '' : `,"msg":${JSON.stringify(message)}`}`;
}

/** An object's JSON without its braces (empty for no members); an Error under `err` keeps its
 * type, message and stack, which JSON.stringify would drop. */
function toJsonMembers(fields: Record<string, unknown>): string {
  const value = fields.err instanceof Error ? { ...fields, err: serializeError(fields.err) } : fields;
  return (safeStringify(value) ?? '{}').slice(1, -1);
}

function serializeError(error: Error): Record<string, unknown> {
  const { code } = error as { code?: unknown };
  return { type: error.name, message: error.message, stack: error.stack, ...(code === undefined ? {} : { code }) };
}

/** JSON.stringify, or, for what it refuses (a cycle, a BigInt), the same with those replaced. */
function safeStringify(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    const seen = new WeakSet<object>();
    return JSON.stringify(value, (_key, member: unknown) => {
      if (typeof member === 'bigint') return member.toString();
      if (typeof member === 'object' && member !== null) {
        if (seen.has(member)) return '[Circular]';
        seen.add(member);
      }
      return member;
    });
  }
}

/** printf-style placeholders as pino fills them: %s %d %i %f %j %o %O, and %% for a percent
 * sign; arguments without a placeholder are left out. */
export function interpolate(template: string, args: readonly unknown[]): string {
  if (args.length === 0 || !template.includes('%')) return template;
  let next = 0;
  return template.replace(/%([sdifjoO%])/g, (whole, kind: string) => {
    if (kind === '%') return '%';
    if (next >= args.length) return whole;
    const arg = args[next++];
    switch (kind) {
      case 's':
        return typeof arg === 'object' && arg !== null ? (safeStringify(arg) ?? String(arg)) : String(arg);
      case 'd':
      case 'f':
        return String(Number(arg));
      case 'i':
        return String(Math.trunc(Number(arg)));
      default:
        return safeStringify(arg) ?? String(arg);
    }
  });
}

/** fd 1, written synchronously (a line is out before the process can exit), whole lines only. */
const STDOUT: LogDestination = {
  write(line) {
    const bytes = Buffer.from(line);
    let offset = 0;
    while (offset < bytes.length) {
      try {
        offset += writeSync(1, bytes, offset);
      } catch (error) {
        // A non-blocking stdout that is full: wait a moment for the reader, as sonic-boom did.
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return;
        Atomics.wait(WAIT, 0, 0, 10);
      }
    }
  },
};
const WAIT = new Int32Array(new SharedArrayBuffer(4));

const LEVEL_METHODS: ReadonlySet<PropertyKey> = new Set(Object.keys(LOG_LEVELS));

/**
 * A child logger made only when something is logged through it. Deliveries and events each get
 * a logger carrying their ids, and nearly all of them log nothing: a `child()` per event (its
 * bindings serialised) was a visible share of a stage's CPU. A call at a level that is off costs
 * no child either.
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
