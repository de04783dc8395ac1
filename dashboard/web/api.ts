// Calls to the dashboard's own JSON API, with the key typed into the page (kept in
// sessionStorage: gone when the tab closes) as `authorization: Bearer <key>`.
import { createSseParser, type SseEvent } from './sse';
import { describeApiError } from './format';

const KEY_ITEM = 'taskmanager.apiKey';

export function readKey(): string {
  return sessionStorage.getItem(KEY_ITEM) ?? '';
}

export function saveKey(key: string): void {
  if (key.trim() === '') sessionStorage.removeItem(KEY_ITEM);
  else sessionStorage.setItem(KEY_ITEM, key.trim());
}

export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly status: number;
  readonly code: string;
  constructor(status: number, body: unknown) {
    super(describeApiError(status, body));
    this.status = status;
    this.code = typeof (body as { error?: unknown } | null)?.error === 'string' ? (body as { error: string }).error : `HTTP_${status}`;
  }
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const key = readKey();
  return { ...extra, ...(key ? { authorization: `Bearer ${key}` } : {}) };
}

/** Reports every refused call (401/403 and the rest) to the page's banner. */
let onFailure: (error: ApiError) => void = () => undefined;
export function setFailureListener(listener: (error: ApiError) => void): void {
  onFailure = listener;
}

export async function request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const response = await fetch(path, {
    method,
    headers: headers(body === undefined ? {} : { 'content-type': 'application/json' }),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = { error: `HTTP_${response.status}`, message: text.slice(0, 200) };
  }
  if (!response.ok) {
    const error = new ApiError(response.status, parsed);
    onFailure(error);
    throw error;
  }
  return parsed as T;
}

/** Follows an SSE stream until it ends or `signal` aborts; resolves when the stream closes. */
export async function followEvents(path: string, onEvent: (event: SseEvent) => void, signal: AbortSignal): Promise<void> {
  const response = await fetch(path, { headers: headers({ accept: 'text/event-stream' }), signal });
  if (!response.ok || !response.body) {
    const error = new ApiError(response.status, await response.json().catch(() => undefined));
    onFailure(error);
    throw error;
  }
  const parser = createSseParser();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    for (const event of parser.push(value)) onEvent(event);
  }
}
