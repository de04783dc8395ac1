// Admission control for SubmitTask: refuse new work (RESOURCE_EXHAUSTED) while the TASKS stream
// still has room for the tasks already accepted, not once it is full.
//
// Why: every stage moves a task along by publishing its next event into the same TASKS stream
// *before* it acks the one it took (interest retention frees that only on the ack). So each hop
// needs one free message for a moment. If the gateway filled the stream to its very last message
// (the stream's own discard-new limit), ingest and the scheduler could not forward what was
// accepted (it would end FAILED after MaxDeliver attempts), and a worker could not publish a
// result to free a message of its own: a full stream would never drain. The gateway therefore
// keeps a reserve of the stream's MaxMsgs and MaxBytes (TM_BACKLOG_RESERVE_PERCENT) that only
// the stages use. Size it above the deliveries the stages can have in flight at once
// (Σ TM_SOURCE_MAX_IN_FLIGHT × replicas of ingest, scheduler and worker; docs/reliability.md).
//
// The fill level is read with STREAM.INFO at most every `maxAgeMs` (cheap under a burst); submits
// between two reads can overshoot the limit by a few, which the reserve absorbs. When the level
// cannot be read (NATS down, no permission), the guard lets the call through: the publish and
// the stream's own limit still decide.
import { BacklogFullError, describeError } from '../shared/errors';
import type { Logger } from '../shared/logger';

export type StreamFill = {
  messages: number;
  bytes: number;
  /** The stream's limits; 0 or less means unlimited. */
  maxMsgs: number;
  maxBytes: number;
};

function checkLimit(used: number, max: number, reservePercent: number, unit: string): string | undefined {
  if (max <= 0) return undefined;
  const reserve = Math.ceil((max * reservePercent) / 100);
  if (used < max - reserve) return undefined;
  return `the TASKS stream holds ${used} ${unit} of its limit of ${max}, and the last ${reserve} are kept for tasks already accepted`;
}

/** Why a new task must be refused now, or undefined when there is room. */
export function findBacklogProblem(fill: StreamFill, reservePercent: number): string | undefined {
  return (
    checkLimit(fill.messages, fill.maxMsgs, reservePercent, 'messages') ?? checkLimit(fill.bytes, fill.maxBytes, reservePercent, 'bytes')
  );
}

export type BacklogGuard = {
  /** Throws BacklogFullError when the backlog has no room for a new task. */
  assertRoom(): Promise<void>;
};

export type BacklogGuardDeps = {
  readFill: () => Promise<StreamFill>;
  reservePercent: number;
  /** How old a fill reading may be before it is read again. */
  maxAgeMs: number;
  now: () => number;
  logger: Logger;
};

export function createBacklogGuard(deps: BacklogGuardDeps): BacklogGuard {
  let cached: { fill: StreamFill; at: number } | undefined;
  let reading: Promise<StreamFill | undefined> | undefined;
  let warned = false;

  const read = (): Promise<StreamFill | undefined> => {
    reading ??= deps
      .readFill()
      .then(
        (fill) => {
          cached = { fill, at: deps.now() };
          warned = false;
          return fill;
        },
        (error: unknown) => {
          if (!warned) deps.logger.warn({ err: describeError(error) }, 'backlog fill level unknown: submissions are not held back');
          warned = true;
          return undefined;
        },
      )
      .finally(() => {
        reading = undefined;
      });
    return reading;
  };

  return {
    async assertRoom() {
      const fill = cached && deps.now() - cached.at < deps.maxAgeMs ? cached.fill : await read();
      if (!fill) return;
      const problem = findBacklogProblem(fill, deps.reservePercent);
      if (problem) throw new BacklogFullError(problem);
    },
  };
}
