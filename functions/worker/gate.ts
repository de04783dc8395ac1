// The worker's attempt gate: whether this delivery of a `scheduled` event runs its attempt, and
// the hold on the task while it runs (attempt-claims.ts says why a lease and not a marker).
// - A task that is already terminal (cancelled, or finished by an earlier delivery): skipped,
//   with audit `skipped.<state>`.
// - An attempt beyond the last one (an earlier delivery died without an outcome): exhausted.
// - One run at a time, each attempt once: a run takes the task with a lease and renews it while
//   it runs. Another delivery (a copy re-published outside JetStream's duplicate window, or a
//   redelivery after a source crash, which can repeat the delivery count) waits while that run
//   lives, then follows the outcome: the task ended → skipped (audit `skipped.duplicate`); this
//   attempt failed with attempts left → a RetryableError, so the next attempt comes even if the
//   run's own delivery died with its source; no outcome (the run died, its lease lapsed) → it
//   runs the task itself.
import { isTerminal, type TaskEnvelope } from '../../shared/contract';
import type { Emitter } from '../../shared/emit';
import { describeError, RetryableError } from '../../shared/errors';
import type { WireEvent } from '../../shared/events';
import type { Logger } from '../../shared/logger';
import type { AttemptClaims, AttemptOutcome, StatusStore } from '../../shared/ports';

/** One delivery of a `scheduled` event, as the gate and the run see it. */
export type Delivery = {
  task: TaskEnvelope;
  event: WireEvent;
  attempt: number;
  /** The last attempt the worker makes (toLastAttempt). */
  last: number;
  emit: Emitter;
  logger: Logger;
};

export type Admission = { kind: 'skip' } | { kind: 'exhausted' } | { kind: 'run'; token: string };

export type GateDeps = {
  status: Pick<StatusStore, 'read'>;
  claims: AttemptClaims;
  newToken: () => string;
};

export type AttemptGate = {
  admit(delivery: Delivery): Promise<Admission>;
  /** Runs `work` as the holder `token`: renews the lease meanwhile, records the outcome once
   * `work` has published it, and lets go when `work` fails before publishing one. */
  hold<T extends { outcome: AttemptOutcome }>(delivery: Delivery, token: string, work: () => Promise<T>): Promise<T>;
};

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function createAttemptGate(deps: GateDeps): AttemptGate {
  const { claims } = deps;
  const pollMs = Math.max(50, Math.min(1_000, Math.floor(claims.leaseMs / 3)));

  /**
   * Takes the task, or waits while another run holds it and follows its outcome. `firstTake` is
   * the outcome of a take already made (admit makes it beside the status read).
   */
  async function acquire(d: Delivery, token: string, firstTake: boolean): Promise<Admission> {
    for (let taken = firstTake; ; taken = await claims.take(d.event.id, d.attempt, token)) {
      if (taken) return { kind: 'run', token };
      let state = await claims.read(d.event.id, d.attempt);
      while (state === 'running') {
        await pause(pollMs);
        state = await claims.read(d.event.id, d.attempt);
      }
      // Nothing holds it any more (the holder died or let go): take it.
      if (state === undefined) continue;
      if (state === 'retrying') {
        throw new RetryableError(`attempt ${d.attempt} of ${d.last} already failed in another delivery of event ${d.event.id}`);
      }
      d.logger.info({ attempt: d.attempt }, 'another delivery of this event ended the task: skipped');
      const detail = `event ${d.event.id} is already handled for attempt ${d.attempt}`;
      await d.emit.audit(d.task.taskId, 'skipped.duplicate', { attempt: d.attempt, detail });
      return { kind: 'skip' };
    }
  }

  return {
    async admit(d) {
      // The status read and the first take go out together (one round trip, not two, on every
      // task's path); a take that turns out to be for a terminal task is let go again.
      const token = deps.newToken();
      const within = d.attempt <= d.last;
      const [read, take] = await Promise.allSettled([
        deps.status.read(d.task.taskId),
        within ? claims.take(d.event.id, d.attempt, token) : Promise.resolve(false),
      ]);
      const taken = take.status === 'fulfilled' && take.value;
      if (read.status === 'rejected') {
        // Let go at once, or the redelivery would wait for the lease to lapse.
        if (taken) await claims.release(d.event.id, d.attempt, token).catch(() => undefined);
        throw read.reason;
      }
      if (take.status === 'rejected') throw take.reason;
      const current = read.value;
      if (current && isTerminal(current.state)) {
        if (taken) await claims.release(d.event.id, d.attempt, token);
        d.logger.info({ state: current.state }, 'task already terminal: skipped');
        await d.emit.audit(d.task.taskId, `skipped.${current.state.toLowerCase()}`, { attempt: d.attempt, detail: `task is ${current.state}` });
        return { kind: 'skip' };
      }
      if (!within) return { kind: 'exhausted' };
      return acquire(d, token, taken);
    },

    async hold<T extends { outcome: AttemptOutcome }>(d: Delivery, token: string, work: () => Promise<T>): Promise<T> {
      const eventId = d.event.id;
      const heartbeat = setInterval(() => {
        claims.renew(eventId, d.attempt, token).catch((error: unknown) => {
          d.logger.warn({ err: describeError(error) }, 'attempt lease not renewed');
        });
      }, Math.max(100, Math.floor(claims.leaseMs / 3)));
      let result: T;
      try {
        result = await work();
      } catch (error) {
        // No outcome was published (NATS or Redis unavailable): a redelivery may run it again.
        await claims.release(eventId, d.attempt, token).catch(() => undefined);
        throw error;
      } finally {
        clearInterval(heartbeat);
      }
      await claims.settle(eventId, d.attempt, result.outcome, token).catch((error: unknown) => {
        // The outcome is out; only a redelivery racing the lapsed lease could run it again.
        d.logger.warn({ err: describeError(error) }, 'attempt outcome not recorded');
      });
      return result;
    },
  };
}
