// Coalesces a socket's writes per turn of the event loop.
//
// The Redis client (redis-client.ts) writes every command to its socket the moment it is sent: a
// batch of 20 status events handled concurrently would be 20 write syscalls, and on loopback each
// syscall also does the receiver's network work. Corking the socket on the first write of a turn
// and uncorking it with setImmediate (after this turn's I/O callbacks and their promise chains
// have run) turns them into one writev, and lets redis-server read and answer them as one
// pipeline. Nothing waits on a timer: the data leaves at the end of the turn that wrote it.
// (ioredis's enableAutoPipelining, when ioredis was the client, did the same grouping by building
// Pipeline objects, which cost more than they saved: docs/performance.md.)
import type { Duplex } from 'node:stream';

type Corkable = Pick<Duplex, 'cork' | 'uncork' | 'write'>;

const COALESCED = Symbol('writes coalesced');

/** Wraps `socket.write` so that the writes of one event-loop turn leave in one syscall. */
export function coalesceWrites(socket: Corkable): void {
  const target = socket as Corkable & { [COALESCED]?: true };
  if (target[COALESCED]) return;
  target[COALESCED] = true;
  const write = socket.write;
  let corked = false;
  const flush = () => {
    corked = false;
    socket.uncork();
  };
  socket.write = function coalescedWrite(this: Corkable, ...args: Parameters<Corkable['write']>) {
    if (!corked) {
      corked = true;
      socket.cork();
      setImmediate(flush);
    }
    return write.apply(this, args);
  } as Corkable['write'];
}
