// How `npm start` shows the logs of its processes. Every component writes pino JSON lines to
// stdout (what a log pipeline wants); on a terminal a person wants one short line per event:
// time, level, component, message and the fields that matter. Pure: start.ts chooses the mode
// from the terminal and the environment, the supervisor passes each line through `formatLogLine`.
// A page of code rather than pino-pretty: no dependency and no extra process, and it leads each
// line with the supervisor's process name (worker-source, not the logger's source-worker).

export type LogFormat = Readonly<{
  /** One readable line per event; false: the JSON line as the process wrote it. */
  pretty: boolean;
  /** ANSI colours (only on a terminal, never with NO_COLOR). */
  color: boolean;
}>;

export const LOG_FORMATS = ['json', 'pretty'] as const;

/**
 * LOG_FORMAT=json keeps the JSON lines, LOG_FORMAT=pretty makes them readable even in a pipe;
 * unset, they are readable on a terminal and JSON otherwise. Colour only on a terminal, and not
 * when NO_COLOR is set to anything (no-color.org).
 */
export function chooseLogFormat(isTTY: boolean, env: Readonly<Record<string, string | undefined>>): LogFormat {
  const asked = env.LOG_FORMAT?.trim().toLowerCase() || undefined;
  if (asked !== undefined && !(LOG_FORMATS as readonly string[]).includes(asked)) {
    throw new Error(`LOG_FORMAT must be one of ${LOG_FORMATS.join(', ')} (or unset), got "${env.LOG_FORMAT}"`);
  }
  const pretty = asked === undefined ? isTTY : asked === 'pretty';
  return Object.freeze({ pretty, color: pretty && isTTY && !env.NO_COLOR });
}

const LEVELS: Readonly<Record<number, { name: string; color: string }>> = {
  10: { name: 'TRACE', color: '90' },
  20: { name: 'DEBUG', color: '36' },
  30: { name: 'INFO', color: '32' },
  40: { name: 'WARN', color: '33' },
  50: { name: 'ERROR', color: '31' },
  60: { name: 'FATAL', color: '1;31' },
};

/** pino's own fields, and the component that the process name already says. */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'component', 'v']);
/** Shown first: what a reader looks for to follow one task. */
const FIRST = ['taskId'];
/** Shown last: what went wrong. */
const LAST = ['err', 'error'];

const paint = (color: boolean, code: string, text: string) => (color ? `\u001b[${code}m${text}\u001b[0m` : text);

function toClock(time: unknown): string | undefined {
  if (typeof time !== 'string' && typeof time !== 'number') return undefined;
  const date = new Date(time);
  if (Number.isNaN(date.getTime())) return undefined;
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

/** A field's value on one line: bare when it is a plain word, else JSON (quotes, escaped newlines). */
function toValue(value: unknown): string {
  if (typeof value === 'string') return /^[\w.:/@+-]+$/.test(value) ? value : JSON.stringify(value);
  // A serialized Error (pino's err serializer): its message says enough on one line.
  if (value && typeof value === 'object' && 'message' in value && typeof value.message === 'string') {
    const code = 'code' in value && value.code !== undefined ? ` (${String(value.code)})` : '';
    return JSON.stringify(`${value.message}${code}`);
  }
  return JSON.stringify(value) ?? String(value);
}

function isPinoLine(parsed: unknown): parsed is Record<string, unknown> & { level: number } {
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && typeof (parsed as { level?: unknown }).level === 'number';
}

/** One output line of process `name`, as `npm start` prints it. */
export function formatLogLine(name: string, line: string, format: LogFormat): string {
  const prefix = `[${name}]`;
  if (!format.pretty) return `${prefix} ${line}`;
  let parsed: unknown;
  try {
    parsed = line.trimStart().startsWith('{') ? JSON.parse(line) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!isPinoLine(parsed)) return `${paint(format.color, '1', prefix)} ${line}`;

  const level = LEVELS[parsed.level] ?? { name: `L${parsed.level}`, color: '0' };
  const keys = Object.keys(parsed).filter((key) => !HIDDEN.has(key));
  const ordered = [
    ...FIRST.filter((key) => keys.includes(key)),
    ...keys.filter((key) => !FIRST.includes(key) && !LAST.includes(key)),
    ...LAST.filter((key) => keys.includes(key)),
  ];
  const fields = ordered.map((key) => {
    const text = `${key}=${toValue(parsed[key])}`;
    return LAST.includes(key) && parsed.level >= 40 ? paint(format.color, level.color, text) : paint(format.color, '2', text);
  });
  // A message never breaks the line: one line per event.
  const message = typeof parsed.msg === 'string' ? parsed.msg.replace(/\r?\n/g, '\\n') : '';
  return [
    toClock(parsed.time),
    paint(format.color, level.color, level.name.padEnd(5)),
    paint(format.color, '1', prefix),
    message,
    ...fields,
  ]
    .filter((part) => part !== undefined && part !== '')
    .join(' ');
}
