// The public API as the gateway sees it: proto/taskmanager.proto loaded at runtime with
// @grpc/proto-loader, and the TypeScript shapes of the loaded messages. The loader options decide
// those shapes (snake_case names, int64 as number, enums as their names, proto3 `optional`
// fields undefined when absent), so clients in tests load the proto with the same options.
import { join } from 'node:path';
import { loadSync, type Options, type PackageDefinition, type ServiceDefinition } from '@grpc/proto-loader';
import type { TaskStateName } from '../shared/contract';
import { SUBMIT_TASK_WIRE_FIELDS, withWireCheck } from './wire-check';

export const PROTO_FILE = 'taskmanager.proto';
export const SERVICE_NAME = 'taskmanager.v1.TaskManager';

/**
 * int64 fields (timestamps, seq, delay_ms) as JS numbers: every value this API carries is far
 * below 2^53. `defaults` fills plain fields; proto3 `optional` fields stay undefined when absent,
 * which is how `after_seq`, `delay_ms` and `idempotency_key` show their presence.
 */
export const PROTO_LOADER_OPTIONS: Options = Object.freeze({
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});

export type LoadedProto = {
  packageDefinition: PackageDefinition;
  service: ServiceDefinition;
};

export function loadTaskManagerProto(protoDir: string): LoadedProto {
  const packageDefinition = loadSync(join(protoDir, PROTO_FILE), PROTO_LOADER_OPTIONS);
  const service = packageDefinition[SERVICE_NAME] as ServiceDefinition | undefined;
  if (!service) throw new Error(`${join(protoDir, PROTO_FILE)} does not define ${SERVICE_NAME}`);
  const submit = service.SubmitTask;
  if (!submit) return { packageDefinition, service };
  // Bytes the decoder would silently alter (invalid UTF-8, odd int32 varints): wire-check.ts.
  const checked = { ...submit, requestDeserialize: withWireCheck(submit.requestDeserialize, SUBMIT_TASK_WIRE_FIELDS) };
  return { packageDefinition, service: { ...service, SubmitTask: checked } };
}

export type ProtoPriority = 'PRIORITY_UNSPECIFIED' | 'PRIORITY_LOW' | 'PRIORITY_MEDIUM' | 'PRIORITY_HIGH';
export type ProtoTaskState = 'TASK_STATE_UNSPECIFIED' | TaskStateName;

/** As decoded: an enum value the proto does not name arrives as its number. */
export type SubmitTaskRequest = {
  type: string;
  payload: string;
  priority: ProtoPriority | number;
  idempotency_key?: string;
  metadata: Record<string, string>;
  delay_ms?: number;
  max_attempts: number;
};

export type SubmitTaskResponse = { task_id: string; state: ProtoTaskState; duplicate: boolean };

export type TaskStatusUpdate = {
  task_id: string;
  state: ProtoTaskState;
  stage: string;
  attempt: number;
  message: string;
  progress: number;
  updated_at_ms: number;
  seq: number;
};

export type Task = {
  task_id: string;
  type: string;
  payload: string;
  priority: ProtoPriority;
  metadata: Record<string, string>;
  created_at_ms: number;
  attempts: number;
  status?: TaskStatusUpdate;
  history: TaskStatusUpdate[];
};

export type TaskIdRequest = { task_id: string };
export type StreamStatusRequest = { task_id: string; after_seq?: number };

export type TaskResult = {
  task_id: string;
  state: ProtoTaskState;
  output: string;
  error: string;
  attempts: number;
  started_at_ms: number;
  finished_at_ms: number;
};

export type CancelTaskResponse = { task_id: string; state: ProtoTaskState };

export type ProtoTaskType = {
  name: string;
  description: string;
  schema: string;
  timeout_ms: number;
  max_attempts: number;
  retry_delays_ms: number[];
  handler: string;
};
export type ListTaskTypesResponse = { task_types: ProtoTaskType[] };

export type ListTasksRequest = {
  states?: ProtoTaskState[];
  type?: string;
  priority?: ProtoPriority;
  created_after_ms?: number;
  created_before_ms?: number;
  page_size?: number;
  page_token?: string;
};
export type ListTasksResponse = { tasks: Task[]; next_page_token: string };

export type ListDeadLettersRequest = {
  task_id?: string;
  type?: string;
  stage?: string;
  after_ms?: number;
  before_ms?: number;
  page_size?: number;
  page_token?: string;
};
export type ProtoDeadLetter = {
  id: string;
  task_id: string;
  type: string;
  stage: string;
  reason: string;
  attempts: number;
  last_error: string;
  dead_lettered_at_ms: number;
  replayed_as: string;
  event: string;
};
export type ListDeadLettersResponse = { dead_letters: ProtoDeadLetter[]; next_page_token: string; dropped: number };

export type ReplayDeadLettersRequest = ListDeadLettersRequest & { ids?: string[]; dry_run?: boolean };
export type ReplayDeadLettersResponse = {
  replayed: number;
  task_ids: string[];
  skipped: { id: string; reason: string }[];
  next_page_token: string;
  already_replayed: number;
  would_replay: string[];
};

export type ListAuditEventsRequest = { task_id: string; page_size?: number; page_token?: string };
export type ProtoAuditEvent = { task_id: string; stage: string; action: string; attempt: number; detail: string; at_ms: number };
export type ListAuditEventsResponse = { events: ProtoAuditEvent[]; next_page_token: string };

export type ProtoQueueStat = { queue: string; pending: number; in_flight: number; oldest_pending_age_ms: number; paused: boolean };
export type QueueStats = {
  queues: ProtoQueueStat[];
  delayed: number;
  dead_letters: number;
  dead_letters_dropped: number;
  dead_letter_cap: number;
  read_at_ms: number;
};
export type QueueRequest = { queue: string };
export type QueueResponse = { queue: string; paused: boolean };
