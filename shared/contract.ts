// The flow contract: every stream, subject, consumer, event type and Redis key name of
// docs/design.md §4 lives here and nowhere else. Numbers that operators tune (retry delays,
// limits) come from `loadFlowSettings`, which reads them from the environment with the design's
// defaults.

export const STREAM_TASKS = 'TASKS';
export const STREAM_EVENTS = 'EVENTS';

export const SUBJECTS = {
  ingest: 'tasks.ingest',
  schedule: 'tasks.schedule',
  workerHigh: 'tasks.worker.high',
  workerMedium: 'tasks.worker.medium',
  workerLow: 'tasks.worker.low',
  results: 'tasks.results',
  status: 'events.status',
  audit: 'events.audit',
  deadletter: 'events.deadletter',
} as const;

export type Subject = (typeof SUBJECTS)[keyof typeof SUBJECTS];

export const STREAM_SUBJECTS: Record<string, readonly string[]> = {
  [STREAM_TASKS]: ['tasks.>'],
  [STREAM_EVENTS]: ['events.>'],
};

/**
 * The pause state of the operator's queues (DESIGN §3 PauseQueue/ResumeQueue;
 * shared/queue-pauses.ts): one subject per queue in a stream of its own that keeps the last
 * record of each subject. Not in STREAM_SUBJECTS: that stream holds state, not work, and has
 * other settings (limits retention, one message per subject).
 */
export const STREAM_PAUSES = 'PAUSES';
export const PAUSE_SUBJECTS = 'pauses.>';
/** How the gateway and the sources read a pause record (and what their NATS users may publish). */
export const PAUSES_MSG_GET = `$JS.API.STREAM.MSG.GET.${STREAM_PAUSES}`;

/** The subject that holds the pause record of `queue` (a name of shared/queues.ts). */
export function toPauseSubject(queue: string): string {
  return `pauses.${queue}`;
}

export const EVENT_TYPES = {
  submitted: 'taskmanager.task.submitted',
  accepted: 'taskmanager.task.accepted',
  scheduled: 'taskmanager.task.scheduled',
  finished: 'taskmanager.task.finished',
  statusChanged: 'taskmanager.status.changed',
  auditRecorded: 'taskmanager.audit.recorded',
  deadlettered: 'taskmanager.task.deadlettered',
} as const;

export type EventType = (typeof EVENT_TYPES)[keyof typeof EVENT_TYPES];

export type Priority = 'high' | 'medium' | 'low';
export const PRIORITIES: readonly Priority[] = ['high', 'medium', 'low'];

export function toWorkerSubject(priority: Priority): Subject {
  if (priority === 'high') return SUBJECTS.workerHigh;
  if (priority === 'low') return SUBJECTS.workerLow;
  return SUBJECTS.workerMedium;
}

/** One durable pull consumer. nats-server 2.9 (Debian's) has no multi-filter consumers, so a
 * stage that reads several subjects (the worker) has one consumer per subject, listed in
 * priority order; the source fills a free slot from the first that has a message. */
export type ConsumerSpec = {
  readonly stream: string;
  readonly durable: string;
  readonly filterSubject: string;
};

function consumer(stream: string, durable: string, filterSubject: string): ConsumerSpec {
  return { stream, durable, filterSubject };
}

export const CONSUMERS = {
  ingest: [consumer(STREAM_TASKS, 'ingest', SUBJECTS.ingest)],
  scheduler: [consumer(STREAM_TASKS, 'scheduler', SUBJECTS.schedule)],
  worker: [
    consumer(STREAM_TASKS, 'worker-high', SUBJECTS.workerHigh),
    consumer(STREAM_TASKS, 'worker-medium', SUBJECTS.workerMedium),
    consumer(STREAM_TASKS, 'worker-low', SUBJECTS.workerLow),
  ],
  'result-store': [consumer(STREAM_TASKS, 'result-store', SUBJECTS.results)],
  notifier: [consumer(STREAM_EVENTS, 'notifier', SUBJECTS.status)],
  // Audit records travel in status events (one per stage step) and, for facts without a status
  // change, on their own: nats-server 2.9 has one filter per consumer, so one consumer each.
  audit: [consumer(STREAM_EVENTS, 'audit', SUBJECTS.audit), consumer(STREAM_EVENTS, 'audit-status', SUBJECTS.status)],
  deadletter: [consumer(STREAM_EVENTS, 'deadletter', SUBJECTS.deadletter)],
} as const satisfies Record<string, readonly ConsumerSpec[]>;

export type ConsumedStage = keyof typeof CONSUMERS;
export const ALL_CONSUMERS: readonly ConsumerSpec[] = Object.values(CONSUMERS).flat();

/**
 * What each component publishes (docs/pipeline.md), besides the JetStream API. The shipped NATS
 * config grants exactly these (shared/nats-permissions.ts generates the permissions and a test
 * compares configs/nats/nats.conf with them): a subject missing here is refused by NATS.
 */
export const PUBLISHES = {
  gateway: [SUBJECTS.ingest, SUBJECTS.audit],
  ingest: [SUBJECTS.schedule, SUBJECTS.status, SUBJECTS.audit, SUBJECTS.deadletter],
  // The promoter too: scheduled events, and a dead letter + FAILED for an unreadable delayed task;
  // and the reconciler: a stalled task's `submitted` event again (functions/scheduler/reconciler.ts).
  scheduler: [SUBJECTS.ingest, SUBJECTS.workerHigh, SUBJECTS.workerMedium, SUBJECTS.workerLow, SUBJECTS.status, SUBJECTS.audit, SUBJECTS.deadletter],
  worker: [SUBJECTS.results, SUBJECTS.status, SUBJECTS.audit, SUBJECTS.deadletter],
  'result-store': [SUBJECTS.status, SUBJECTS.audit],
  notifier: [],
  audit: [],
  deadletter: [],
} as const satisfies Record<ConsumedStage | 'gateway', readonly Subject[]>;

/**
 * The consumers whose oldest held message the reconciler reads (consumer INFO, then the message's
 * time with STREAM.MSG.GET): the stages a stalled task is re-driven to, and the notifier, whose
 * lag says how current the statuses in Redis are.
 */
export const RECONCILER_WATCHES: readonly ConsumerSpec[] = [...CONSUMERS.ingest, ...CONSUMERS.worker, ...CONSUMERS.notifier];

/**
 * What the source of `stage` publishes when it gives up on an event (source/delivery.ts): a dead
 * letter, plus a FAILED status for events of the TASKS stream. The deadletter stage's own source
 * never dead-letters (that would loop).
 */
export function toSourcePublishes(stage: string, consumers: readonly ConsumerSpec[]): Subject[] {
  if (stage === 'deadletter') return [];
  const readsTasks = consumers.some((spec) => spec.stream === STREAM_TASKS);
  return readsTasks ? [SUBJECTS.deadletter, SUBJECTS.status] : [SUBJECTS.deadletter];
}

/** Redis key names (docs/design.md §4). Channels share the status key's name, as the design says. */
export const KEYS = {
  // Relative to the key prefix (TM_REDIS_PREFIX, default `tm:`): the clients of connectRedis
  // prefix keys themselves; channels go through toChannel (docs/decisions/0011-redis-key-prefix.md).
  task: (id: string) => `task:${id}`,
  status: (id: string) => `task_status:${id}`,
  statusChannel: (id: string) => `task_status:${id}`,
  history: (id: string) => `task_history:${id}`,
  result: (id: string) => `task_result:${id}`,
  /** Scoped per tenant: the same client key in two tenants names two tasks. Tenant names hold
   * no ':', so the first segment after the prefix is always the tenant. */
  idempotency: (tenant: string, key: string) => `idempotency:${tenant}:${key}`,
  /** Every task that is not terminal, scored by its last status change (the reconciler's index). */
  activeTasks: 'active_tasks',
  // ListTasks' indexes, per tenant, each a sorted set of task ids scored by creation time: all of
  // a tenant's tasks, those of one type, those in one state (moved by the status scripts in the
  // same call that changes the status, so a task is always listed under the state it is in).
  tasksByTime: (tenant: string) => `tasks:${tenant}:all`,
  tasksByType: (tenant: string, type: string) => `tasks:${tenant}:type:${type}`,
  tasksByState: (tenant: string, state: string) => `tasks:${tenant}:state:${state}`,
  /** What the status scripts put before `<tenant>:state:<state>` (they build the key themselves). */
  tasksIndexBase: 'tasks:',
  /** Finished tasks by the time their records expire (TM_RETENTION_SECONDS), each member
   * `<tenant>\t<type>\t<state>\t<task id>`: what the retention sweep takes out of the indexes. */
  tasksExpiring: 'tasks_expiring',
  reconcilerLease: 'reconciler:lease',
  /** How often the reconciler re-drove a task (a counter per task). */
  redrives: (id: string) => `redrives:${id}`,
  delayedQueue: 'delayed_tasks',
  delayedLeases: 'delayed_tasks:leases',
  delayedEvent: (id: string) => `delayed_task:${id}`,
  cancelChannel: 'task_cancel',
  auditEvents: 'audit_events',
  /** One task's audit trail (sorted set by time; ListAuditEvents), expiring with its task. */
  taskAudit: (id: string) => `task_audit:${id}`,
  deadLetter: 'dead_letter',
  deadLetterSeen: (id: string) => `dead_letter_seen:${id}`,
  // Dead letters per tenant (ListDeadLetters): a record per dead letter, by its id (the id of the
  // dead-letter event), and the tenant's index of them scored by time, capped; what the cap
  // dropped is counted. The store script builds the tenant's keys from these bases.
  deadLetterRecord: (id: string) => `dead_letter_record:${id}`,
  deadLetters: (tenant: string) => `dead_letters:${tenant}`,
  deadLettersDropped: (tenant: string) => `dead_letters_dropped:${tenant}`,
  deadLettersBase: 'dead_letters:',
  deadLettersDroppedBase: 'dead_letters_dropped:',
  deadLetterRecordBase: 'dead_letter_record:',
  processed: (stage: string, eventId: string) => `processed:${stage}:${eventId}`,
  /** The lease of the worker run that holds a `scheduled` event (functions/worker/attempt-claims.ts). */
  workerRun: (eventId: string) => `processed:worker:${eventId}:run`,
} as const;

/** What every task event carries in its CloudEvent `data`. */
export type TaskEnvelope = {
  taskId: string;
  type: string;
  /** JSON text exactly as submitted. */
  payload: string;
  priority: Priority;
  metadata: Record<string, string>;
  maxAttempts: number;
  createdAtMs: number;
  /** Run no earlier than this (0 = at once). */
  notBeforeMs: number;
  tenant: string;
  enrichment?: Record<string, unknown>;
};

export type TaskStateName =
  | 'QUEUED'
  | 'VALIDATED'
  | 'ENRICHED'
  | 'SCHEDULED'
  | 'RUNNING'
  | 'RETRYING'
  | 'SUCCEEDED'
  | 'FAILED'
  | 'CANCELLED'
  | 'REJECTED';

export const TASK_STATE_NAMES: readonly TaskStateName[] = [
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
];

export const TERMINAL_STATES: ReadonlySet<TaskStateName> = new Set([
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
  'REJECTED',
]);

export function isTerminal(state: string): boolean {
  return TERMINAL_STATES.has(state as TaskStateName);
}

export type StatusUpdate = {
  taskId: string;
  state: TaskStateName;
  stage: string;
  attempt: number;
  message: string;
  progress: number;
  updatedAtMs: number;
};

/** One state a stage step moves its task to: a StatusUpdate without the task and stage. */
export type StatusTransition = Pick<StatusUpdate, 'state' | 'attempt' | 'message' | 'progress' | 'updatedAtMs'>;

/**
 * data of `taskmanager.status.changed`: what one stage step did to its task, in one event
 * (docs/design.md §4): its transitions in order (ingest: VALIDATED then ENRICHED) and, when the
 * step is worth recording, its audit record. The notifier applies the transitions; the audit
 * stage appends the record.
 */
export type StatusStep = {
  taskId: string;
  stage: string;
  transitions: StatusTransition[];
  audit?: AuditData;
};

/** A status as stored and streamed: the update plus its per-task sequence number. */
export type StoredStatus = StatusUpdate & { seq: number };

export type TaskOutcome = 'SUCCEEDED' | 'FAILED' | 'CANCELLED';

/** data of `taskmanager.task.finished`. */
export type FinishedData = {
  task: TaskEnvelope;
  state: TaskOutcome;
  output: string;
  error: string;
  attempts: number;
  startedAtMs: number;
  finishedAtMs: number;
};

export type AuditData = {
  taskId: string;
  stage: string;
  action: string;
  attempt: number;
  detail: string;
  atMs: number;
};

export type DeadLetterData = {
  taskId: string;
  stage: string;
  reason: string;
  attempts: number;
  lastError: string;
  /** The event that could not be processed (its CloudEvent, as JSON). */
  event: unknown;
  atMs: number;
};

export const DEFAULT_MAX_ATTEMPTS = 5;
/** How long a finished task's record, status, history and result are kept (TM_RETENTION_SECONDS). */
export const DEFAULT_RETENTION_SECONDS = 7 * 24 * 60 * 60;
export const MAX_DELAY_MS = 30 * 24 * 60 * 60 * 1000;

export type FlowSettings = {
  readonly retryDelaysMs: readonly number[];
  readonly ackWaitMs: number;
  readonly maxDeliver: number;
  readonly maxAgeMs: number;
  readonly maxMsgs: number;
  readonly maxBytes: number;
  readonly duplicateWindowMs: number;
};

export const DEFAULT_FLOW_SETTINGS: FlowSettings = Object.freeze({
  retryDelaysMs: Object.freeze([1_000, 5_000, 15_000, 30_000, 60_000]),
  ackWaitMs: 30_000,
  maxDeliver: 5,
  maxAgeMs: 24 * 60 * 60 * 1000,
  maxMsgs: 1_000_000,
  maxBytes: 512 * 1024 * 1024,
  duplicateWindowMs: 2 * 60 * 1000,
});

/**
 * How many times JetStream delivers one message of this consumer (-1: without limit). Task events
 * (TASKS) have the attempt budget: a stage that stays unreachable fails the task, with a dead
 * letter. Records on EVENTS (status changes, audit, dead letters) are facts, not work: dropping
 * one after MaxDeliver would leave its task short of its terminal state for good (a notifier or
 * Redis outage longer than the retry schedule), so their consumers retry, at the schedule's last
 * delay, until the stage is back. A record the stage refuses (4xx) is still dead-lettered at once.
 */
export function toMaxDeliver(consumer: Pick<ConsumerSpec, 'stream'>, settings: Pick<FlowSettings, 'maxDeliver'>): number {
  return consumer.stream === STREAM_EVENTS ? -1 : settings.maxDeliver;
}

/** The retry delay before delivery `attempt + 1`, after attempt `attempt` failed (1-based). */
export function retryDelayMs(settings: Pick<FlowSettings, 'retryDelaysMs'>, attempt: number): number {
  const delays = settings.retryDelaysMs;
  const index = Math.min(Math.max(attempt - 1, 0), delays.length - 1);
  return delays[index] ?? 0;
}
