// What a consumer holds, on a real nats-server: the reader the queue stats and the scheduler's
// reconciler share, and the reconciler's stricter view of a consumer that does not exist.
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsumerHoldReader, createHeldReader } from './consumer-holds';
import type { ConsumerSpec } from './contract';
import { DependencyUnavailableError } from './errors';
import { startNatsServer, type TestServer } from '../test/helpers/servers';

let server: TestServer;
let nc: NatsConnection;
const spec: ConsumerSpec = { stream: 'H', durable: 'h-b', filterSubject: 'h.b' };

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'H', subjects: ['h.>'] });
  await jsm.consumers.add('H', { durable_name: spec.durable, filter_subject: spec.filterSubject, ack_policy: AckPolicy.Explicit });
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

describe('consumer holds (real NATS)', () => {
  it('holds nothing: zeros, and no publish time', async () => {
    expect(await createConsumerHoldReader(nc)(spec)).toEqual({ pending: 0, inFlight: 0, oldestPublishedMs: undefined });
    expect(await createHeldReader(nc)(spec)).toBeUndefined();
  });

  it('the oldest held message is the first after the ack floor on the consumer’s own subject', async () => {
    const js = jetstream(nc);
    // A message of another subject comes first in the stream: it is not this consumer's.
    await js.publish('h.a', 'other');
    const before = Date.now();
    await js.publish('h.b', 'first');
    const after = Date.now();
    await js.publish('h.b', 'second');
    const hold = await createConsumerHoldReader(nc)(spec);
    expect(hold).toMatchObject({ pending: 2, inFlight: 0 });
    expect(hold?.oldestPublishedMs).toBeGreaterThanOrEqual(before);
    expect(hold?.oldestPublishedMs).toBeLessThanOrEqual(after);
    expect(await createHeldReader(nc)(spec)).toBe(hold?.oldestPublishedMs);
  });

  it('a consumer or stream that does not exist: undefined for the stats, an error for the reconciler', async () => {
    const missing = [{ ...spec, durable: 'nobody' }, { stream: 'NOSTREAM', durable: 'nobody', filterSubject: 'x' }];
    for (const consumer of missing) {
      expect(await createConsumerHoldReader(nc)(consumer)).toBeUndefined();
      await expect(createHeldReader(nc)(consumer)).rejects.toBeInstanceOf(DependencyUnavailableError);
    }
  });
});
