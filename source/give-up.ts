// Giving up on a pulled message (delivery.ts decides when): a dead letter (stage
// `source:<function>`) on events.deadletter, plus a FAILED status when the event is a task event
// (TASKS stream) so the task still ends terminal, then +TERM. The deadletter stage's own source
// only logs and terminates (no dead letter of a dead letter).
// Retried here: publishing the dead letter/status while NATS is unavailable (the message stays in
// flight, kept alive by in-progress acks), until it succeeds or shutdown abandons it.
//
// Apart from delivery.ts because it is a job of its own, off the hot path: what a failure
// records and how hard it tries to record it.
import { EVENT_TYPES, STREAM_TASKS, SUBJECTS, type DeadLetterData } from '../shared/contract';
import { EVENT_IDS, type Emitter } from '../shared/emit';
import { describeError } from '../shared/errors';
import type { WireEvent } from '../shared/events';
import type { Logger } from '../shared/logger';
import type { Acks } from './acks';
import type { OutcomeKind } from './metrics';
import type { PulledMessage } from './pull-feed';

/** Subject (task id) of dead letters about bytes that carry no task id. */
export const UNKNOWN_TASK_ID = 'unknown';

export type GiveUpDeps = Readonly<{
  functionName: string;
  /** `source:<function>`: the stage of the dead letters. */
  stage: string;
  acks: Pick<Acks, 'term'>;
  emit: Pick<Emitter, 'task' | 'status'>;
  now: () => number;
  /** First pause between attempts to publish while NATS is unavailable. */
  publishRetryMs: number;
}>;

/** Why, and the event when the bytes were one (undefined when they were not a CloudEvent). */
export type GiveUp = { event: WireEvent | undefined; reason: string; lastError: string };

export async function giveUp(
  deps: GiveUpDeps,
  message: PulledMessage,
  input: GiveUp,
  abandon: AbortSignal,
  logger: Logger,
): Promise<OutcomeKind> {
  const { event, reason } = input;
  if (deps.functionName === 'deadletter') {
    logger.error({ reason }, 'dead letter could not be recorded: terminated (a dead letter is never dead-lettered)');
    deps.acks.term(message);
    return 'deadletter';
  }
  const taskId = event?.subject || UNKNOWN_TASK_ID;
  // One dead letter per failed event (not per task: a task has many status/audit events), and
  // the same id when a redelivery repeats the give-up, so JetStream's duplicate window drops it.
  const failedEvent = event ? event.id : `${message.consumer.stream}:${message.streamSequence}`;
  const id = `${EVENT_IDS.deadLetter(taskId, deps.stage)}:${failedEvent}`;
  const data: DeadLetterData = {
    taskId,
    stage: deps.stage,
    reason,
    attempts: message.deliveryCount,
    lastError: input.lastError,
    event: event ? toRecordedEvent(event) : toRecordedBytes(message),
    atMs: deps.now(),
  };
  logger.warn({ reason }, 'giving up on event: dead letter');
  const recorded = await untilPublished(
    deps,
    'dead letter',
    () => deps.emit.task(SUBJECTS.deadletter, EVENT_TYPES.deadlettered, id, taskId, data),
    abandon,
    logger,
  );
  if (!recorded) return 'abandoned';
  if (event?.subject && message.consumer.stream === STREAM_TASKS) {
    const failed = await untilPublished(
      deps,
      'FAILED status',
      () => deps.emit.status(taskId, 'FAILED', { attempt: message.deliveryCount, message: reason }),
      abandon,
      logger,
    );
    if (!failed) return 'abandoned';
  }
  deps.acks.term(message);
  return 'deadletter';
}

/** The failed event as the dead letter records it (a summary when it is very large). */
function toRecordedEvent(event: WireEvent): unknown {
  if (JSON.stringify(event).length <= 256 * 1024) return event;
  const { id, source, type, subject, time } = event;
  return { id, source, type, subject, time, truncated: true };
}

function toRecordedBytes(message: PulledMessage): unknown {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(message.data.subarray(0, 4096));
  return {
    stream: message.consumer.stream,
    sequence: message.streamSequence,
    subject: message.consumer.filterSubject,
    raw: text,
    truncated: message.data.length > 4096,
  };
}

/** Publishes until it works; false when shutdown abandoned the message first. */
async function untilPublished(
  deps: Pick<GiveUpDeps, 'publishRetryMs'>,
  what: string,
  publish: () => Promise<void>,
  abandon: AbortSignal,
  logger: Logger,
): Promise<boolean> {
  for (let failures = 0; ; failures += 1) {
    try {
      await publish();
      return true;
    } catch (error) {
      if (abandon.aborted) return false;
      logger.warn({ err: describeError(error), failures: failures + 1 }, `could not publish ${what}; retrying`);
      await pause(Math.min(deps.publishRetryMs * 2 ** failures, 5_000), abandon);
      if (abandon.aborted) return false;
    }
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
