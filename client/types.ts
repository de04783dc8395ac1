// The client's public types (camelCase, numbers as numbers) and the pure conversions from the
// wire shapes that @grpc/proto-loader produces (snake_case, int64 as decimal strings, enum names).

export const TASK_STATES = [
  'TASK_STATE_UNSPECIFIED',
  'QUEUED',
  'VALIDATED',
  'ENRICHED',
  'SCHEDULED',
  'RUNNING',
  'RETRYING',
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
  'REJECTED',
] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const TERMINAL_STATES: ReadonlySet<TaskState> = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED']);

export function isTerminalState(state: string): boolean {
  return TERMINAL_STATES.has(state as TaskState);
}

export const PRIORITIES = ['low', 'medium', 'high'] as const;
export type Priority = (typeof PRIORITIES)[number];

export function isPriority(value: unknown): value is Priority {
  return typeof value === 'string' && (PRIORITIES as readonly string[]).includes(value);
}

const PRIORITY_TO_WIRE: Record<Priority, string> = {
  low: 'PRIORITY_LOW',
  medium: 'PRIORITY_MEDIUM',
  high: 'PRIORITY_HIGH',
};

export function toWirePriority(priority: Priority): string {
  return PRIORITY_TO_WIRE[priority];
}

/** PRIORITY_UNSPECIFIED means medium (proto comment). */
export function fromWirePriority(value: unknown): Priority {
  if (value === 'PRIORITY_LOW') return 'low';
  if (value === 'PRIORITY_HIGH') return 'high';
  return 'medium';
}

export type SubmitInput = {
  type: string;
  /** An object (serialized here) or JSON text (sent as is; the server validates it). */
  payload?: unknown;
  priority?: Priority;
  idempotencyKey?: string;
  metadata?: Record<string, string>;
  delayMs?: number;
  maxAttempts?: number;
};

export type SubmitResult = { taskId: string; state: TaskState; duplicate: boolean };

export type StatusUpdate = {
  taskId: string;
  state: TaskState;
  stage: string;
  attempt: number;
  message: string;
  progress: number;
  updatedAtMs: number;
  seq: number;
};

export type Task = {
  taskId: string;
  type: string;
  /** The payload parsed from its JSON text (the text itself when it is not JSON). */
  payload: unknown;
  payloadText: string;
  priority: Priority;
  metadata: Record<string, string>;
  createdAtMs: number;
  attempts: number;
  status: StatusUpdate | undefined;
  history: StatusUpdate[];
};

export type TaskResult = {
  taskId: string;
  state: TaskState;
  /** The output parsed from its JSON text; undefined when there is none. */
  output: unknown;
  outputText: string;
  error: string;
  attempts: number;
  startedAtMs: number;
  finishedAtMs: number;
};

export type CancelResult = { taskId: string; state: TaskState };

/** What ListTasks filters on; every field is optional (the first page of every task, newest first). */
export type ListTasksQuery = {
  /** Any of these states. */
  states?: TaskState[];
  type?: string;
  priority?: Priority;
  createdAfterMs?: number;
  createdBeforeMs?: number;
  /** 1..1000; default 50. */
  pageSize?: number;
  /** `nextPageToken` of the previous page (same filters). */
  pageToken?: string;
};

/** One page of a listing: tasks newest first, without their history. `nextPageToken` is
 * undefined at the end; a page may hold fewer tasks than asked and still have one. */
export type TaskPage = { tasks: Task[]; nextPageToken: string | undefined };

/** What ListDeadLetters filters on; every field is optional. */
export type ListDeadLettersQuery = {
  taskId?: string;
  type?: string;
  /** The stage that gave up (worker, ingest, …). */
  stage?: string;
  afterMs?: number;
  beforeMs?: number;
  pageSize?: number;
  pageToken?: string;
};

export type DeadLetter = {
  id: string;
  taskId: string;
  type: string;
  stage: string;
  reason: string;
  attempts: number;
  lastError: string;
  deadLetteredAtMs: number;
  /** The task its replay made; '' until replayed. */
  replayedAs: string;
  /** The event that could not be processed (parsed JSON). */
  event: unknown;
};

export type DeadLetterPage = { deadLetters: DeadLetter[]; nextPageToken: string | undefined; dropped: number };

/** Which dead letters ReplayDeadLetters replays: these ids, or every one the filters match
 * (a page of at most 1000 per call; `nextPageToken` of the answer continues). */
export type ReplayQuery = Omit<ListDeadLettersQuery, 'pageSize'> & { ids?: string[]; dryRun?: boolean; pageSize?: number };

export type ReplayResult = {
  /** Dead letters that have a replay task, made now or by an earlier replay (one per taskIds). */
  replayed: number;
  taskIds: string[];
  /** Of `replayed`, those replayed before (their taskIds are the earlier tasks). */
  alreadyReplayed: number;
  /** With dryRun: the dead letters a replay would make a task for. */
  wouldReplay: string[];
  skipped: { id: string; reason: string }[];
  nextPageToken: string | undefined;
};

/** One record of a task's audit trail (ListAuditEvents). */
export type AuditEvent = { taskId: string; stage: string; action: string; attempt: number; detail: string; atMs: number };

export type AuditPage = { events: AuditEvent[]; nextPageToken: string | undefined };

export type QueueStat = { queue: string; pending: number; inFlight: number; oldestPendingAgeMs: number; paused: boolean };

/** GetQueueStats: the queues and delayed tasks (operator tenants only) and the caller's dead letters. */
export type QueueStats = {
  queues: QueueStat[];
  delayed: number;
  deadLetters: number;
  deadLettersDropped: number;
  deadLetterCap: number;
  readAtMs: number;
};

/** A task type the deployment runs (ListTaskTypes): what to submit and what to expect. */
export type TaskType = {
  name: string;
  description: string;
  /** JSON Schema of the payload. */
  schema: unknown;
  timeoutMs: number;
  maxAttempts: number;
  /** Waits between attempts; empty: the deployment's schedule. */
  retryDelaysMs: number[];
  /** Where its handler runs: builtin, http or module. */
  handler: string;
};

// ---- wire → client ----

type Wire = Record<string, unknown>;

function str(value: unknown): string {
  return typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value);
}

/** int64 arrives as a decimal string (longs: String); int32 as a number. */
function num(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value !== '') {
    const parsed = Number(value);
    return Number.isFinite(parsed) ? parsed : 0;
  }
  return 0;
}

function state(value: unknown): TaskState {
  return (TASK_STATES as readonly string[]).includes(value as string) ? (value as TaskState) : 'TASK_STATE_UNSPECIFIED';
}

/** JSON text → value; empty text → undefined; text that is not JSON stays text. */
export function parseJsonText(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function toSubmitResult(wire: Wire): SubmitResult {
  return { taskId: str(wire.task_id), state: state(wire.state), duplicate: wire.duplicate === true };
}

export function toStatusUpdate(wire: Wire): StatusUpdate {
  return {
    taskId: str(wire.task_id),
    state: state(wire.state),
    stage: str(wire.stage),
    attempt: num(wire.attempt),
    message: str(wire.message),
    progress: num(wire.progress),
    updatedAtMs: num(wire.updated_at_ms),
    seq: num(wire.seq),
  };
}

export function toTask(wire: Wire): Task {
  const payloadText = str(wire.payload);
  const metadata = (wire.metadata ?? {}) as Record<string, unknown>;
  return {
    taskId: str(wire.task_id),
    type: str(wire.type),
    payload: parseJsonText(payloadText),
    payloadText,
    priority: fromWirePriority(wire.priority),
    metadata: Object.fromEntries(Object.entries(metadata).map(([key, value]) => [key, str(value)])),
    createdAtMs: num(wire.created_at_ms),
    attempts: num(wire.attempts),
    status: wire.status ? toStatusUpdate(wire.status as Wire) : undefined,
    history: Array.isArray(wire.history) ? (wire.history as Wire[]).map(toStatusUpdate) : [],
  };
}

export function toTaskResult(wire: Wire): TaskResult {
  const outputText = str(wire.output);
  return {
    taskId: str(wire.task_id),
    state: state(wire.state),
    output: parseJsonText(outputText),
    outputText,
    error: str(wire.error),
    attempts: num(wire.attempts),
    startedAtMs: num(wire.started_at_ms),
    finishedAtMs: num(wire.finished_at_ms),
  };
}

export function toCancelResult(wire: Wire): CancelResult {
  return { taskId: str(wire.task_id), state: state(wire.state) };
}

export function toTaskType(wire: Wire): TaskType {
  return {
    name: str(wire.name),
    description: str(wire.description),
    schema: parseJsonText(str(wire.schema)),
    timeoutMs: num(wire.timeout_ms),
    maxAttempts: num(wire.max_attempts),
    retryDelaysMs: Array.isArray(wire.retry_delays_ms) ? wire.retry_delays_ms.map(num) : [],
    handler: str(wire.handler),
  };
}

/** ListTasksQuery → ListTasksRequest (int64 as decimal strings, enums by name). */
export function toListTasksRequest(query: ListTasksQuery): Wire {
  const request: Wire = { states: query.states ?? [], type: query.type ?? '', page_size: query.pageSize ?? 0, page_token: query.pageToken ?? '' };
  if (query.priority) request.priority = toWirePriority(query.priority);
  if (query.createdAfterMs !== undefined) request.created_after_ms = String(query.createdAfterMs);
  if (query.createdBeforeMs !== undefined) request.created_before_ms = String(query.createdBeforeMs);
  return request;
}

export function toTaskPage(wire: Wire): TaskPage {
  const token = str(wire.next_page_token);
  return { tasks: Array.isArray(wire.tasks) ? (wire.tasks as Wire[]).map(toTask) : [], nextPageToken: token === '' ? undefined : token };
}

export function toListDeadLettersRequest(query: ListDeadLettersQuery): Wire {
  const request: Wire = { task_id: query.taskId ?? '', type: query.type ?? '', stage: query.stage ?? '', page_size: query.pageSize ?? 0, page_token: query.pageToken ?? '' };
  if (query.afterMs !== undefined) request.after_ms = String(query.afterMs);
  if (query.beforeMs !== undefined) request.before_ms = String(query.beforeMs);
  return request;
}

export function toDeadLetterPage(wire: Wire): DeadLetterPage {
  const letters = Array.isArray(wire.dead_letters) ? (wire.dead_letters as Wire[]) : [];
  const token = str(wire.next_page_token);
  return {
    deadLetters: letters.map((letter) => ({
      id: str(letter.id),
      taskId: str(letter.task_id),
      type: str(letter.type),
      stage: str(letter.stage),
      reason: str(letter.reason),
      attempts: num(letter.attempts),
      lastError: str(letter.last_error),
      deadLetteredAtMs: num(letter.dead_lettered_at_ms),
      replayedAs: str(letter.replayed_as),
      event: parseJsonText(str(letter.event)),
    })),
    nextPageToken: token === '' ? undefined : token,
    dropped: num(wire.dropped),
  };
}

export function toReplayRequest(query: ReplayQuery): Wire {
  const request: Wire = { ...toListDeadLettersRequest(query), ids: query.ids ?? [], dry_run: query.dryRun ?? false };
  return request;
}

export function toReplayResult(wire: Wire): ReplayResult {
  const token = str(wire.next_page_token);
  const skipped = Array.isArray(wire.skipped) ? (wire.skipped as Wire[]) : [];
  return {
    replayed: num(wire.replayed),
    taskIds: strings(wire.task_ids),
    alreadyReplayed: num(wire.already_replayed),
    wouldReplay: strings(wire.would_replay),
    skipped: skipped.map((entry) => ({ id: str(entry.id), reason: str(entry.reason) })),
    nextPageToken: token === '' ? undefined : token,
  };
}

export function toAuditPage(wire: Wire): AuditPage {
  const events = Array.isArray(wire.events) ? (wire.events as Wire[]) : [];
  const token = str(wire.next_page_token);
  return {
    events: events.map((event) => ({
      taskId: str(event.task_id),
      stage: str(event.stage),
      action: str(event.action),
      attempt: num(event.attempt),
      detail: str(event.detail),
      atMs: num(event.at_ms),
    })),
    nextPageToken: token === '' ? undefined : token,
  };
}

export function toQueueStats(wire: Wire): QueueStats {
  const queues = Array.isArray(wire.queues) ? (wire.queues as Wire[]) : [];
  return {
    queues: queues.map((queue) => ({
      queue: str(queue.queue),
      pending: num(queue.pending),
      inFlight: num(queue.in_flight),
      oldestPendingAgeMs: num(queue.oldest_pending_age_ms),
      paused: queue.paused === true,
    })),
    delayed: num(wire.delayed),
    deadLetters: num(wire.dead_letters),
    deadLettersDropped: num(wire.dead_letters_dropped),
    deadLetterCap: num(wire.dead_letter_cap),
    readAtMs: num(wire.read_at_ms),
  };
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.map((item) => str(item)) : [];
}
