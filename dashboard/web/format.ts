// Pure formatting of what the dashboard shows: durations, times, states, payloads, query
// strings, error messages. No DOM here, so it is unit-tested in node.

export const TERMINAL_STATES: readonly string[] = ['SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED'];
export const FILTER_STATES: readonly string[] = ['QUEUED', 'VALIDATED', 'ENRICHED', 'SCHEDULED', 'RUNNING', 'RETRYING', ...TERMINAL_STATES];

export function isTerminal(state: string | undefined): boolean {
  return state !== undefined && TERMINAL_STATES.includes(state);
}

/** 950 → "950 ms", 12_300 → "12.3 s", 125_000 → "2 min 5 s", 7_380_000 → "2 h 3 min". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const totalSeconds = Math.floor(ms / 1000);
  if (totalSeconds < 3600) return `${Math.floor(totalSeconds / 60)} min ${totalSeconds % 60} s`;
  const minutes = Math.floor(totalSeconds / 60);
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** Epoch ms → "2026-12-04 07:31:05.123" in UTC (what the logs and `tm` print); 0 → "–". */
export function formatTime(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return '–';
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

/** A CSS class per state family, for colour: ok, bad, live, waiting. */
export function stateClass(state: string): string {
  if (state === 'SUCCEEDED') return 'state-ok';
  if (state === 'FAILED' || state === 'REJECTED' || state === 'CANCELLED') return 'state-bad';
  if (state === 'RUNNING' || state === 'RETRYING') return 'state-live';
  return 'state-waiting';
}

/** Progress 0..100 whatever the server sends. */
export function clampProgress(value: number): number {
  if (!Number.isFinite(value)) return 0;
  return Math.min(100, Math.max(0, Math.round(value)));
}

/** JSON text → indented JSON; text that is not JSON stays as it is. Shown as text, never as HTML. */
export function prettyJson(text: string): string {
  if (text.trim() === '') return '';
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** One line of at most `max` characters (payload previews in lists). */
export function truncate(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length <= max ? line : `${line.slice(0, Math.max(0, max - 1))}…`;
}

/** Filters → "?a=1&b=2" without the empty ones; repeated values for arrays. */
export function toQueryString(params: Readonly<Record<string, string | number | readonly string[] | undefined>>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || value === '') continue;
    if (Array.isArray(value)) for (const item of value) search.append(name, item);
    else search.set(name, String(value));
  }
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

/** What went wrong, for a banner: the API's `{error, message}` or the bare status. */
export function describeApiError(status: number, body: unknown): string {
  const record = (body ?? {}) as { error?: unknown; message?: unknown };
  const code = typeof record.error === 'string' ? record.error : `HTTP ${status}`;
  const message = typeof record.message === 'string' ? record.message : '';
  return message === '' ? code : `${code}: ${message}`;
}

/** Tasks per minute from a count over a window, one decimal. */
export function perMinute(count: number, windowMs: number): string {
  if (windowMs <= 0) return '0';
  return (Math.round((count * 600_000) / windowMs) / 10).toString();
}

/** "#/tasks/abc" → { view: 'task', id: 'abc' }; unknown → the queues view. */
export type Route = { view: 'queues' } | { view: 'tasks' } | { view: 'task'; id: string } | { view: 'dead-letters' };

export function toRoute(hash: string): Route {
  const path = hash.replace(/^#\/?/, '');
  const [first, second] = path.split('/');
  if (first === 'tasks' && second) {
    try {
      return { view: 'task', id: decodeURIComponent(second) };
    } catch {
      return { view: 'tasks' };
    }
  }
  if (first === 'tasks') return { view: 'tasks' };
  if (first === 'dead-letters') return { view: 'dead-letters' };
  return { view: 'queues' };
}

export function taskHref(taskId: string): string {
  return `#/tasks/${encodeURIComponent(taskId)}`;
}
