// JetStream publishes with their PubAck over one reply subscription, on a real nats-server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { DiscardPolicy, jetstreamManager } from '@nats-io/jetstream';
import { startNatsServer, type TestServer } from '../test/helpers/servers';
import { createPubAckClient, PublishError, toPubAck } from './pub-acks';

let server: TestServer;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'P', subjects: ['p.>'], max_msgs: 3, discard: DiscardPolicy.New, duplicate_window: 60_000_000_000 });
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

const bytes = (text: string) => new TextEncoder().encode(text);

describe('PubAck client', () => {
  it('resolves with the stream and sequence, and says when the Nats-Msg-Id was a duplicate', async () => {
    const client = createPubAckClient(nc, { timeoutMs: 2_000 });
    const first = await client.publish('p.a', bytes('one'), 'id-1');
    expect(first).toEqual({ stream: 'P', seq: 1, duplicate: false });
    expect(await client.publish('p.a', bytes('one again'), 'id-1')).toEqual({ stream: 'P', seq: 1, duplicate: true });
    const many = await Promise.all(['id-2', 'id-3'].map((id) => client.publish('p.b', bytes(id), id)));
    expect(many.map((ack) => ack.seq).sort()).toEqual([2, 3]);
    client.close();
  });

  it('rejects with the stream refusal when the stream is full, and when no stream takes the subject', async () => {
    const client = createPubAckClient(nc, { timeoutMs: 2_000 });
    await expect(client.publish('p.c', bytes('four'), 'id-4')).rejects.toThrow(/maximum messages exceeded/);
    await expect(client.publish('nowhere.at.all', bytes('x'), 'id-5')).rejects.toThrow(/no stream takes this subject/);
    client.close();
  });

  it('rejects a publish that gets no reply in time', async () => {
    const client = createPubAckClient(nc, { timeoutMs: 300 });
    // A core subscriber answers nothing, and no stream covers the subject: the reply never comes.
    const silent = nc.subscribe('silent.subject', { callback: () => undefined });
    await expect(client.publish('silent.subject', bytes('x'), 'id-6')).rejects.toThrow(/within 300 ms/);
    silent.unsubscribe();
    client.close();
  });

  it('reads a PubAck and an error reply', () => {
    expect(toPubAck('{"stream":"S","seq":7}')).toEqual({ stream: 'S', seq: 7, duplicate: false });
    expect(() => toPubAck('{"error":{"code":503,"description":"maximum messages exceeded"}}')).toThrow(PublishError);
    expect(() => toPubAck('nonsense')).toThrow(/not a PubAck/);
  });
});
