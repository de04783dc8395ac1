// nats.js's Node transport with its writes coalesced per turn of the event loop.
//
// nats.js flushes what it has to send in a microtask: the publishes and acks made in one
// callback leave together, but each callback of a turn gets a write of its own. A source settles
// each delivery from its own HTTP answer, so every ack was one write syscall of about 80 bytes,
// and on loopback TCP each write also wakes nats-server to read it. Here the frames of a whole
// turn (its I/O callbacks and their promise chains) are queued and written once, with
// setImmediate, as redis-client.ts does with write-coalescing.ts. Nothing waits on a timer: the
// bytes leave at the end of the turn that produced them, in the order they were sent.
//
// A close writes what is queued first (the last acks of a drain must not be dropped).
import { NodeTransport, nodeResolveHost } from '@nats-io/transport-node/lib/node_transport';
import { NatsConnectionImpl, setTransportFactory, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';

export class CoalescingTransport extends NodeTransport {
  private queued: Uint8Array[] = [];

  override send(frame: Uint8Array): void {
    if (frame.length === 0) return;
    this.queued.push(frame);
    if (this.queued.length === 1) setImmediate(this.writeQueued);
  }

  override close(error?: Error): Promise<void> {
    this.writeQueued();
    return super.close(error);
  }

  override disconnect(): void {
    this.writeQueued();
    super.disconnect();
  }

  private readonly writeQueued = (): void => {
    const frames = this.queued;
    if (frames.length === 0) return;
    this.queued = [];
    super.send(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
  };
}

/** Connects as nats.js's `connect` does, over the coalescing transport (also on reconnects).
 * The transport factory is global to nats.js, and its own `connect` sets the plain one, so it is
 * set again before each connection. */
export function connectCoalesced(options: ConnectionOptions): Promise<NatsConnection> {
  setTransportFactory({ factory: () => new CoalescingTransport(), dnsResolveFn: nodeResolveHost });
  return NatsConnectionImpl.connect(options);
}
