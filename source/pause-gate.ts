// Keeps the source's consumers in step with the pause state of their queues (DESIGN §3
// PauseQueue/ResumeQueue; the state and its watch: shared/queue-pauses.ts).
// - Until the state is known (at start, and again after every reconnect) the source pulls
//   nothing (`known` feeds the dispatcher's canPull): a source that starts or reconnects while
//   its queue is paused must not take one message of it first.
// - A paused queue pauses each of its consumers in the dispatcher (dispatcher.ts: no credit, its
//   requests withdrawn, what arrives is held); a resumed one resumes them.
import type { ConsumerSpec } from '../shared/contract';
import type { PausedQueues, PauseWatch, QueuePauses } from '../shared/queue-pauses';
import { queueOf, queuesOf } from '../shared/queues';
import type { Dispatcher } from './dispatcher';

/** For each consumer (by index), whether its queue is paused. */
export function toPausedConsumers(consumers: readonly ConsumerSpec[], paused: PausedQueues): boolean[] {
  return consumers.map((consumer) => paused.has(queueOf(consumer)));
}

export type PauseGateDeps = {
  watch: QueuePauses['watch'];
  /** The source's consumers, in the dispatcher's (priority) order. */
  consumers: readonly ConsumerSpec[];
  dispatcher: Pick<Dispatcher<unknown>, 'pause' | 'resume' | 'refill'>;
  /** Told whether the state is known, before the dispatcher is asked to pull. */
  setKnown(known: boolean): void;
};

export type PauseGate = Pick<PauseWatch, 'known' | 'paused' | 'stop'>;

export function startPauseGate(deps: PauseGateDeps): PauseGate {
  const { consumers, dispatcher } = deps;
  return deps.watch(queuesOf(consumers), (paused, known) => {
    // Pauses first: the moment the state is known, a paused consumer must already be paused.
    toPausedConsumers(consumers, paused).forEach((isPaused, index) => {
      if (isPaused) dispatcher.pause(index);
      else dispatcher.resume(index);
    });
    deps.setKnown(known);
    dispatcher.refill();
  });
}
