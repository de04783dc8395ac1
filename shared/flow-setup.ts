// The idempotent stream and consumer setup of docs/design.md §4, run by `setup` (and by tests)
// before anything publishes. Kept apart from nats.ts so that only the processes that manage
// JetStream (setup, the sources, the gateway, the scheduler) bundle @nats-io/jetstream.
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  jetstreamManager,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { ALL_CONSUMERS, STREAM_SUBJECTS, toMaxDeliver, type FlowSettings } from './contract';
import type { Logger } from './logger';
import { ensurePauseStream } from './queue-pauses';

export function toStreamConfig(name: string, settings: FlowSettings): Partial<StreamConfig> & { name: string } {
  const subjects = STREAM_SUBJECTS[name];
  if (!subjects) throw new Error(`unknown stream ${name}`);
  return {
    name,
    subjects: [...subjects],
    storage: StorageType.File,
    retention: RetentionPolicy.Interest,
    discard: DiscardPolicy.New,
    max_age: nanos(settings.maxAgeMs),
    max_msgs: settings.maxMsgs,
    max_bytes: settings.maxBytes,
    duplicate_window: nanos(settings.duplicateWindowMs),
    num_replicas: 1,
  };
}

/**
 * Creates or updates both streams, every consumer and the PAUSES stream. Consumers are created
 * here, before anything publishes, because with interest retention a message on a subject that no
 * consumer covers is dropped at once.
 */
export async function setupFlow(nc: NatsConnection, settings: FlowSettings, logger: Logger): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (const name of Object.keys(STREAM_SUBJECTS)) {
    const config = toStreamConfig(name, settings);
    try {
      await jsm.streams.info(name);
      const { name: _name, storage: _storage, retention: _retention, ...mutable } = config;
      await jsm.streams.update(name, mutable);
      logger.info({ stream: name }, 'stream updated');
    } catch (error) {
      if (!(error instanceof JetStreamApiError) || error.code !== 10059) throw error;
      await jsm.streams.add(config);
      logger.info({ stream: name }, 'stream created');
    }
  }
  // The queues' pause state (shared/queue-pauses.ts): only setup may create streams.
  await ensurePauseStream(jsm, logger);
  for (const spec of ALL_CONSUMERS) {
    // No BackOff list: with one, nats-server uses its first value as the first ack deadline
    // and a plain nak() ignores it. The source applies the retry delays with nak(delay).
    const config = {
      durable_name: spec.durable,
      filter_subject: spec.filterSubject,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(settings.ackWaitMs),
      max_deliver: toMaxDeliver(spec, settings),
      max_ack_pending: 10_000,
    };
    try {
      await jsm.consumers.info(spec.stream, spec.durable);
      const { durable_name: _d, deliver_policy: _p, ...mutable } = config;
      await jsm.consumers.update(spec.stream, spec.durable, mutable);
    } catch (error) {
      if (!(error instanceof JetStreamApiError) || error.code !== 10014) throw error;
      await jsm.consumers.add(spec.stream, config);
    }
  }
  logger.info({ consumers: ALL_CONSUMERS.length }, 'consumers ready');
}
