// ReplayDeadLetters (DESIGN §3): each chosen dead letter becomes a NEW task of the same tenant,
// type, payload, priority, attempts and metadata, plus `metadata.replay_of` = the dead task's id,
// so a terminal status is never reopened (docs/decisions/0015-replay-dead-letters.md).
//
// Replaying is idempotent twice over: the replay is submitted with an idempotency key of its own
// (`dead-letter-replay:<id>`), so two concurrent replays of one letter make one task, and the
// record remembers the task as `replayed_as` (first writer wins), so a later replay, long after
// the key expired, answers with that task. Letters are chosen by id, or by the ListDeadLetters
// filters a page at a time (at most 1000 per call, the rest behind next_page_token), and handled
// in chunks of REPLAY_CHUNK concurrent submissions so one call holds a bounded amount of work.
import { setTimeout as delay } from 'node:timers/promises';
import type { TaskEnvelope } from '../shared/contract';
import { deadLetterDigest, type DeadLetterRecord } from '../shared/dead-letters';
import { describeError } from '../shared/errors';
import { isTaskEnvelope } from '../shared/emit';
import { MAX_PAGE_SIZE, encodePageToken } from '../shared/task-listing';
import { DEFAULT_TENANT, toEnvelope } from '../shared/task-record';
import { toDeadLetterQuery } from './list-dead-letters';
import type { ReplayDeadLettersRequest, ReplayDeadLettersResponse, SubmitTaskResponse } from './proto';
import type { Caller, ServiceContext } from './service';
import { SubmissionInProgressError, submitChecked } from './submit-task';
import { invalid } from './validation';

/** Submissions in flight at once within one call. */
export const REPLAY_CHUNK = 100;
export const MAX_REPLAY_IDS = MAX_PAGE_SIZE;
/** Dead-letter ids are event ids: printable ASCII without spaces. */
const DEAD_LETTER_ID_PATTERN = /^[\x21-\x7e]{1,512}$/;
export const REPLAY_OF_KEY = 'replay_of';
const IN_PROGRESS_POLL_MS = 20;

export function replayIdempotencyKey(deadLetterId: string): string {
  return `dead-letter-replay:${deadLetterId}`;
}

type Outcome =
  | { kind: 'replayed'; id: string; taskId: string; before: boolean }
  | { kind: 'would-replay'; id: string }
  | { kind: 'skipped'; id: string; reason: string };

type Selection = { records: (DeadLetterRecord | undefined)[]; ids: string[]; nextPageToken: string };

function toIds(ids: unknown): string[] {
  const list = Array.isArray(ids) ? (ids as unknown[]) : [];
  if (list.length > MAX_REPLAY_IDS) throw invalid('ids', `at most ${MAX_REPLAY_IDS} per call, got ${list.length}`);
  const bad = list.find((id) => typeof id !== 'string' || !DEAD_LETTER_ID_PATTERN.test(id));
  if (bad !== undefined) throw invalid('ids', `${JSON.stringify(bad)} is not a dead-letter id (printable characters without spaces, 1..512)`);
  return [...new Set(list as string[])];
}

function hasFilters(request: ReplayDeadLettersRequest): boolean {
  return Boolean(request.task_id || request.type || request.stage || request.after_ms !== undefined || request.before_ms !== undefined || request.page_token);
}

/** The dead letters a request names (by id) or matches (by filter, one page of at most 1000). */
async function select(ctx: ServiceContext, request: ReplayDeadLettersRequest, tenant: string): Promise<Selection> {
  const index = ctx.deps.stores.deadLetters;
  const ids = toIds(request.ids);
  if (ids.length > 0) {
    if (hasFilters(request)) throw invalid('ids', 'give ids or filters (task_id, type, stage, after_ms, before_ms, page_token), not both');
    return { records: await index.read(tenant, ids), ids, nextPageToken: '' };
  }
  // By filter: the same checks and paging as ListDeadLetters, with a larger default page.
  const query = toDeadLetterQuery({ ...request, page_size: request.page_size || MAX_PAGE_SIZE }, tenant);
  const page = await index.list(query);
  return {
    records: page.deadLetters,
    ids: page.deadLetters.map((letter) => letter.id),
    nextPageToken: page.next ? encodePageToken(page.next, deadLetterDigest(query)) : '',
  };
}

/** The dead task as it was submitted: its stored record, else the envelope its event carried
 * (a record may have expired under retention while its dead letter is kept). */
async function findDeadTask(ctx: ServiceContext, letter: DeadLetterRecord, tenant: string): Promise<TaskEnvelope | undefined> {
  if (letter.taskId !== '') {
    const fields = await ctx.deps.stores.tasks.read(letter.taskId);
    if (fields.task_id && (fields.tenant ?? DEFAULT_TENANT) === tenant) return toEnvelope(fields);
  }
  return envelopeInEvent(letter.event, tenant);
}

function envelopeInEvent(eventJson: string, tenant: string): TaskEnvelope | undefined {
  let event: unknown;
  try {
    event = JSON.parse(eventJson);
  } catch {
    return undefined;
  }
  const data = (event as { data?: unknown } | null)?.data;
  const candidates = [data, (data as { task?: unknown } | null | undefined)?.task];
  const envelope = candidates.find(isTaskEnvelope);
  return envelope && envelope.tenant === tenant ? envelope : undefined;
}

async function replayOne(ctx: ServiceContext, letter: DeadLetterRecord | undefined, id: string, caller: Caller, dryRun: boolean): Promise<Outcome> {
  // Another tenant's letter reads as missing: the same answer as an unknown id.
  if (!letter) return { kind: 'skipped', id, reason: 'no such dead letter' };
  if (letter.replayedAs !== '') return { kind: 'replayed', id, taskId: letter.replayedAs, before: true };
  const dead = await findDeadTask(ctx, letter, caller.tenant);
  if (!dead) return { kind: 'skipped', id, reason: `task ${letter.taskId || '(unnamed)'} is gone and the dead letter does not carry it` };
  if (dryRun) return { kind: 'would-replay', id };
  const submitted = await submitOnce(ctx, id, dead, caller);
  const taskId = (await ctx.deps.stores.deadLetters.markReplayed(id, submitted.task_id)) || submitted.task_id;
  if (!submitted.duplicate) await auditReplay(ctx, id, dead.taskId, taskId);
  return { kind: 'replayed', id, taskId, before: submitted.duplicate };
}

/** Submits the replay under its own idempotency key. A concurrent replay of the same letter may
 * hold the key with its submission still in flight: wait for it (a few ms; it may roll back, and
 * then this one submits), as a client would retry, within the gateway's publish timeout. */
async function submitOnce(ctx: ServiceContext, id: string, dead: TaskEnvelope, caller: Caller): Promise<SubmitTaskResponse> {
  const input = {
    type: dead.type,
    payload: dead.payload,
    priority: dead.priority,
    idempotencyKey: replayIdempotencyKey(id),
    metadata: { ...dead.metadata, [REPLAY_OF_KEY]: dead.taskId },
    delayMs: 0,
    maxAttempts: dead.maxAttempts,
  };
  const deadline = ctx.deps.now() + ctx.deps.limits.publishTimeoutMs * 2;
  for (;;) {
    try {
      return await submitChecked(ctx, input, caller);
    } catch (error) {
      if (!(error instanceof SubmissionInProgressError) || ctx.deps.now() > deadline) throw error;
      await delay(IN_PROGRESS_POLL_MS);
    }
  }
}

/** On both tasks: the new one says what it replays, the dead one what replaced it. An audit
 * record that cannot be published does not undo a replay that is already queued. */
async function auditReplay(ctx: ServiceContext, deadLetterId: string, deadTaskId: string, taskId: string): Promise<void> {
  const { emitter, deps } = ctx;
  await Promise.all([
    emitter.audit(taskId, 'task.replay_of', { detail: `replay of task ${deadTaskId} (dead letter ${deadLetterId})` }),
    emitter.audit(deadTaskId, 'task.replayed', { detail: `replayed as task ${taskId} (dead letter ${deadLetterId})` }),
  ]).catch((error: unknown) => {
    deps.logger.warn({ taskId, deadTaskId, err: describeError(error) }, 'could not publish the replay audit records');
  });
}

export async function replayDeadLetters(ctx: ServiceContext, request: ReplayDeadLettersRequest, caller: Caller): Promise<ReplayDeadLettersResponse> {
  const selection = await select(ctx, request, caller.tenant);
  const dryRun = request.dry_run === true;
  const outcomes: Outcome[] = [];
  for (let start = 0; start < selection.ids.length; start += REPLAY_CHUNK) {
    const chunk = selection.ids.slice(start, start + REPLAY_CHUNK);
    outcomes.push(...(await Promise.all(chunk.map((id, i) => replayOne(ctx, selection.records[start + i], id, caller, dryRun)))));
  }
  const replayed = outcomes.filter((outcome) => outcome.kind === 'replayed');
  ctx.deps.logger.info({ tenant: caller.tenant, replayed: replayed.length, dryRun }, 'dead letters replayed');
  return {
    replayed: replayed.length,
    task_ids: replayed.map((outcome) => outcome.taskId),
    already_replayed: replayed.filter((outcome) => outcome.before).length,
    would_replay: outcomes.flatMap((outcome) => (outcome.kind === 'would-replay' ? [outcome.id] : [])),
    skipped: outcomes.flatMap((outcome) => (outcome.kind === 'skipped' ? [{ id: outcome.id, reason: outcome.reason }] : [])),
    next_page_token: selection.nextPageToken,
  };
}
