// Least privilege on NATS, derived from the one contract: for every process of the topology that
// connects to NATS, the subjects it may publish and subscribe to. configs/nats/nats.conf is
// written from `toNatsAuthorizationBlock()` and test/security/nats-config.test.ts parses it and
// compares, so a new stage, consumer or output subject without its permission fails a test.
//
// What each kind of process really sends (docs/security.md has the table):
// - every publisher of JetStream messages waits for a PubAck on its inbox, and every request gets
//   its reply there: subscribe `_INBOX.<user>.>`, its own inboxes only (shared/nats.ts
//   toInboxPrefix), so that no component can read another's replies or pulled messages;
// - functions: their output subjects (PUBLISHES); nothing of the JetStream API but the
//   scheduler's reconciler, which reads consumer INFO and STREAM.MSG.GET of the consumers it
//   watches (RECONCILER_WATCHES) to tell whether JetStream still holds a stalled task's work;
// - sources: `$JS.API.INFO` (the JetStream manager's check), `$JS.API.CONSUMER.INFO.<s>.<d>` (the
//   startup check and the lag metrics), pull requests `$JS.API.CONSUMER.MSG.NEXT.<s>.<d>`, acks
//   `$JS.ACK.<s>.<d>.>`, and the dead letters / FAILED statuses they publish on giving up; and
//   the pause state of their queues (shared/queue-pauses.ts): read with STREAM.MSG.GET of the
//   PAUSES stream, followed by subscribing to `pauses.<queue>` of their own queues only (the one
//   subscription besides inboxes: a record, not work);
// - setup: `$JS.API.INFO`, stream INFO/CREATE/UPDATE of each stream (PAUSES too), consumer INFO
//   and CREATE (nats.js creates and updates a durable with a filter on
//   `CONSUMER.CREATE.<s>.<d>.<filter>`);
// - the gateway: tasks.ingest and the cancel audit record (PUBLISHES),
//   `$JS.API.STREAM.INFO.TASKS` for its admission control (gateway/backlog.ts; no $JS.API.INFO),
//   the pause state: publishing `pauses.<queue>` of every queue, reading with STREAM.MSG.GET; and
//   for GetQueueStats every consumer's INFO and STREAM.MSG.GET of the TASKS and EVENTS streams.
import {
  ALL_CONSUMERS,
  PUBLISHES,
  RECONCILER_WATCHES,
  PAUSES_MSG_GET,
  STREAM_PAUSES,
  STREAM_SUBJECTS,
  STREAM_TASKS,
  toPauseSubject,
  toSourcePublishes,
  type ConsumedStage,
  type ConsumerSpec,
} from './contract';
import { QUEUE_NAMES, queuesOf } from './queues';
import { FUNCTIONS, type FunctionSpec } from './topology';

/** The subjects a user's replies arrive on (connectNats sets the matching inbox prefix). */
export function toInboxSubjects(user: string): string {
  return `_INBOX.${user}.>`;
}

/** Allow lists. An empty list means nothing is allowed (rendered as `deny: [">"]`). */
export type NatsPermissions = Readonly<{ publish: readonly string[]; subscribe: readonly string[] }>;

export type NatsUser = Readonly<{
  /** = the process name in scripts/local-stack.ts (and the compose service / k8s workload). */
  user: string;
  /** The environment variable nats-server reads the password from. */
  passwordVariable: string;
  permissions: NatsPermissions;
}>;

export function toPasswordVariable(user: string): string {
  return `NATS_PASSWORD_${user.toUpperCase().replace(/-/g, '_')}`;
}

const JS_API_INFO = '$JS.API.INFO';

function consumerInfo(spec: ConsumerSpec): string {
  return `$JS.API.CONSUMER.INFO.${spec.stream}.${spec.durable}`;
}

function withInbox(user: string, publish: readonly string[]): NatsPermissions {
  // Nothing published, nothing requested: no replies to receive either.
  return { publish, subscribe: publish.length > 0 ? [toInboxSubjects(user)] : [] };
}

function setupPermissions(): NatsPermissions {
  const streams = [...Object.keys(STREAM_SUBJECTS), STREAM_PAUSES].flatMap((stream) =>
    ['INFO', 'CREATE', 'UPDATE'].map((action) => `$JS.API.STREAM.${action}.${stream}`),
  );
  const consumers = ALL_CONSUMERS.flatMap((spec) => [
    consumerInfo(spec),
    `$JS.API.CONSUMER.CREATE.${spec.stream}.${spec.durable}.${spec.filterSubject}`,
  ]);
  return withInbox('setup', [JS_API_INFO, ...streams, ...consumers]);
}

function sourcePermissions(fn: FunctionSpec): NatsPermissions {
  const consumers = fn.consumers.flatMap((spec) => [
    consumerInfo(spec),
    `$JS.API.CONSUMER.MSG.NEXT.${spec.stream}.${spec.durable}`,
    `$JS.ACK.${spec.stream}.${spec.durable}.>`,
  ]);
  const user = `${fn.name}-source`;
  const { publish, subscribe } = withInbox(user, [JS_API_INFO, ...consumers, ...toSourcePublishes(fn.name, fn.consumers), PAUSES_MSG_GET]);
  const pauseSubjects = queuesOf(fn.consumers).map(toPauseSubject);
  return { publish, subscribe: [...subscribe, ...pauseSubjects] };
}

function functionPermissions(fn: FunctionSpec): NatsPermissions {
  const publishes: readonly string[] = PUBLISHES[fn.name as ConsumedStage] ?? [];
  if (fn.name !== 'scheduler') return withInbox(fn.name, publishes);
  const streams = [...new Set(RECONCILER_WATCHES.map((spec) => spec.stream))];
  const reads = [...RECONCILER_WATCHES.map(consumerInfo), ...streams.map((stream) => `$JS.API.STREAM.MSG.GET.${stream}`)];
  return withInbox(fn.name, [...publishes, ...reads]);
}

/** GetQueueStats (shared/queue-stats.ts): every consumer's INFO, and the oldest message each holds. */
function queueStatsReads(): string[] {
  const streams = [...new Set(ALL_CONSUMERS.map((spec) => spec.stream))];
  return [...ALL_CONSUMERS.map(consumerInfo), ...streams.map((stream) => `$JS.API.STREAM.MSG.GET.${stream}`)];
}

/** Functions that read a consumer run on the common runtime, which connects to NATS; the
 * enricher is plain HTTP and has no NATS user. */
function connectsToNats(fn: FunctionSpec): boolean {
  return fn.consumers.length > 0;
}

/** Every NATS user of the deployment, in the order of the local stack. */
export function toNatsUsers(functions: readonly FunctionSpec[] = FUNCTIONS): NatsUser[] {
  const user = (name: string, permissions: NatsPermissions): NatsUser => ({
    user: name,
    passwordVariable: toPasswordVariable(name),
    permissions,
  });
  const users = [user('setup', setupPermissions())];
  for (const fn of functions.filter(connectsToNats)) {
    users.push(user(fn.name, functionPermissions(fn)));
    users.push(user(`${fn.name}-source`, sourcePermissions(fn)));
  }
  const pauses = [...QUEUE_NAMES.map(toPauseSubject), PAUSES_MSG_GET];
  users.push(user('gateway', withInbox('gateway', [...PUBLISHES.gateway, `$JS.API.STREAM.INFO.${STREAM_TASKS}`, ...pauses, ...queueStatsReads()])));
  return users;
}

function renderList(subjects: readonly string[], indent: string): string {
  if (subjects.length === 0) return '{ deny: [">"] }';
  const quoted = subjects.map((subject) => JSON.stringify(subject));
  const inline = `{ allow: [${quoted.join(', ')}] }`;
  if (inline.length <= 90) return inline;
  return ['{', `${indent}  allow: [`, ...quoted.map((q) => `${indent}    ${q}`), `${indent}  ]`, `${indent}}`].join('\n');
}

/** The `authorization` block of nats.conf for these users (passwords from the environment). */
export function toNatsAuthorizationBlock(users: readonly NatsUser[] = toNatsUsers()): string {
  const lines = ['authorization {', '  users = ['];
  for (const entry of users) {
    lines.push(
      '    {',
      `      user: ${entry.user}`,
      `      password: $${entry.passwordVariable}`,
      '      permissions: {',
      `        publish: ${renderList(entry.permissions.publish, '        ')}`,
      `        subscribe: ${renderList(entry.permissions.subscribe, '        ')}`,
      '      }',
      '    }',
    );
  }
  lines.push('  ]', '}');
  return `${lines.join('\n')}\n`;
}
