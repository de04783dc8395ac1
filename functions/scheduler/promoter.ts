// The delayed-task promoter, run in every scheduler process beside the HTTP handler. Each round
// claims due ids with a lease (atomic Lua, so concurrent promoters split the work instead of
// sharing it), publishes each stored `scheduled` event on its worker subject, then drops the
// lease and the stored event. If a promoter dies mid-way, its lease expires and another one
// claims the id again; the re-publish carries the same event id, so JetStream's duplicate
// window (longer than the lease) drops it. Outages of Redis or NATS cost a round, not a task.
import { toWorkerSubject } from '../../shared/contract';
import { createEmitter } from '../../shared/emit';
import { toTaskEnvelope } from '../../shared/envelope';
import { describeError } from '../../shared/errors';
import type { WireEvent } from '../../shared/events';
import type { Logger } from '../../shared/logger';
import type { Publisher } from '../../shared/nats';
import type { DelayedStore } from './delayed-store';

export type PromoterDeps = {
  store: DelayedStore;
  publisher: Publisher;
  logger: Logger;
  now: () => number;
  /** How long a claim is exclusive; keep it below the JetStream duplicate window. */
  leaseMs: number;
  /** Ids claimed per Redis call. */
  batchSize: number;
  component: string;
};

export type Promoter = {
  /** One round: promotes everything due now. Returns how many events were published. */
  runOnce(): Promise<number>;
};

type Outcome = 'published' | 'gone' | 'failed';

function parseStored(json: string): { event: WireEvent; subject: string } {
  const event = JSON.parse(json) as WireEvent;
  const envelope = toTaskEnvelope(event);
  if (typeof event.id !== 'string' || event.id === '') throw new Error('stored event has no id');
  return { event, subject: toWorkerSubject(envelope.priority) };
}

export function createPromoter(deps: PromoterDeps): Promoter {
  const emit = createEmitter(deps.publisher, deps.component, deps.now);
  const { store, logger } = deps;

  /** A stored event that cannot be read will never become readable: fail the task visibly. */
  async function quarantine(taskId: string, json: string, error: unknown): Promise<void> {
    const reason = `stored delayed event is unreadable: ${describeError(error)}`;
    logger.error({ taskId, err: describeError(error) }, 'dropping unreadable delayed event');
    await emit.deadLetter({ taskId, reason, attempts: 0, lastError: reason, event: json });
    await emit.status(taskId, 'FAILED', { message: reason });
    await store.complete(taskId);
  }

  async function promote(taskId: string): Promise<Outcome> {
    try {
      const json = await store.load(taskId);
      if (json === null) {
        // Another promoter finished it after our lease was re-claimed: only the lease is left.
        await store.complete(taskId);
        return 'gone';
      }
      let parsed: { event: WireEvent; subject: string };
      try {
        parsed = parseStored(json);
      } catch (error) {
        await quarantine(taskId, json, error);
        return 'gone';
      }
      await deps.publisher.publish(parsed.subject, parsed.event);
      await store.complete(taskId);
      return 'published';
    } catch (error) {
      logger.warn({ taskId, err: describeError(error) }, 'promotion failed; retrying next round');
      await store.release(taskId).catch(() => undefined);
      return 'failed';
    }
  }

  return {
    async runOnce() {
      let published = 0;
      for (;;) {
        const ids = await store.claimDue(deps.now(), deps.leaseMs, deps.batchSize);
        const outcomes = await Promise.all(ids.map(promote));
        published += outcomes.filter((outcome) => outcome === 'published').length;
        // A full batch means more may be due; a failure means a dependency is down: wait a round.
        if (ids.length < deps.batchSize || outcomes.includes('failed')) return published;
      }
    },
  };
}
