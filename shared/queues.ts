// The queues an operator names (DESIGN §3: GetQueueStats, PauseQueue, ResumeQueue) and the
// durable consumers behind each. A queue is a subject of the pipeline; `audit` reads two (its
// own records and the status steps that carry them), and `status` is the notifier's.
import { CONSUMERS, type ConsumedStage, type ConsumerSpec } from './contract';

export const QUEUE_NAMES = ['ingest', 'schedule', 'worker.high', 'worker.medium', 'worker.low', 'results', 'status', 'audit', 'deadletter'] as const;

export type QueueName = (typeof QUEUE_NAMES)[number];

type QueueSpec = { readonly name: QueueName; readonly stage: ConsumedStage; readonly consumers: readonly ConsumerSpec[] };

function byDurable(stage: ConsumedStage, ...durables: string[]): readonly ConsumerSpec[] {
  const consumers: readonly ConsumerSpec[] = CONSUMERS[stage];
  return consumers.filter((consumer) => durables.includes(consumer.durable));
}

export const QUEUES: readonly QueueSpec[] = [
  { name: 'ingest', stage: 'ingest', consumers: CONSUMERS.ingest },
  { name: 'schedule', stage: 'scheduler', consumers: CONSUMERS.scheduler },
  { name: 'worker.high', stage: 'worker', consumers: byDurable('worker', 'worker-high') },
  { name: 'worker.medium', stage: 'worker', consumers: byDurable('worker', 'worker-medium') },
  { name: 'worker.low', stage: 'worker', consumers: byDurable('worker', 'worker-low') },
  { name: 'results', stage: 'result-store', consumers: CONSUMERS['result-store'] },
  { name: 'status', stage: 'notifier', consumers: CONSUMERS.notifier },
  { name: 'audit', stage: 'audit', consumers: CONSUMERS.audit },
  { name: 'deadletter', stage: 'deadletter', consumers: CONSUMERS.deadletter },
];

export function isQueueName(name: string): name is QueueName {
  return (QUEUE_NAMES as readonly string[]).includes(name);
}

/** The queue a consumer belongs to (each consumer belongs to exactly one). */
export function queueOf(consumer: Pick<ConsumerSpec, 'durable'>): QueueName {
  const queue = QUEUES.find((candidate) => candidate.consumers.some((c) => c.durable === consumer.durable));
  if (!queue) throw new Error(`consumer ${consumer.durable} belongs to no queue`);
  return queue.name;
}

/** The queues of these consumers, each once, in the consumers' order. */
export function queuesOf(consumers: readonly Pick<ConsumerSpec, 'durable'>[]): QueueName[] {
  return [...new Set(consumers.map(queueOf))];
}
