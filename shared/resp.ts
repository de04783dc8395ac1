// RESP2, the Redis wire protocol, both ways (https://redis.io/docs/latest/develop/reference/protocol-spec/):
// a command is an array of bulk strings; a reply is a simple string (+), an error (-), an integer
// (:), a bulk string ($, -1 for nil) or an array (*, -1 for nil) of replies. Pure: the client
// (redis-client.ts) owns the socket.

/** An error reply (`-ERR …`, `-NOSCRIPT …`): Redis refused the command. */
export class ReplyError extends Error {
  override name = 'ReplyError';
}

export type Reply = string | number | null | Buffer | ReplyError | Reply[];

export type CommandArg = string | number | Buffer;

/** The command as RESP bytes: a string when every argument is one (the common case), so the
 * socket encodes it in one pass. */
export function encodeCommand(args: readonly CommandArg[]): string | Buffer {
  if (args.every((arg) => typeof arg !== 'object')) {
    let text = `*${args.length}\r\n`;
    for (const arg of args) {
      const value = String(arg);
      text += `$${Buffer.byteLength(value)}\r\n${value}\r\n`;
    }
    return text;
  }
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const value = typeof arg === 'object' ? arg : Buffer.from(String(arg));
    parts.push(Buffer.from(`$${value.length}\r\n`), value, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Not enough bytes yet for the reply that starts here. */
const INCOMPLETE = Symbol('incomplete');
type Parsed = { value: Reply; end: number } | typeof INCOMPLETE;

function parseAt(buffer: Buffer, start: number, bytes = false): Parsed {
  if (start >= buffer.length) return INCOMPLETE;
  const eol = buffer.indexOf('\r\n', start + 1, 'latin1');
  if (eol < 0) return INCOMPLETE;
  const type = buffer[start];
  const line = () => buffer.toString('utf8', start + 1, eol);
  switch (type) {
    case 0x2b: // +
      return { value: line(), end: eol + 2 };
    case 0x2d: // -
      return { value: new ReplyError(line()), end: eol + 2 };
    case 0x3a: // :
      return { value: Number(line()), end: eol + 2 };
    case 0x24: {
      // $
      const length = Number(line());
      if (length < 0) return { value: null, end: eol + 2 };
      const from = eol + 2;
      if (buffer.length < from + length + 2) return INCOMPLETE;
      const value = bytes ? Buffer.from(buffer.subarray(from, from + length)) : buffer.toString('utf8', from, from + length);
      return { value, end: from + length + 2 };
    }
    case 0x2a: {
      // *
      const count = Number(line());
      if (count < 0) return { value: null, end: eol + 2 };
      const items: Reply[] = new Array<Reply>(count);
      let at = eol + 2;
      for (let i = 0; i < count; i += 1) {
        const item = parseAt(buffer, at);
        if (item === INCOMPLETE) return INCOMPLETE;
        items[i] = item.value;
        at = item.end;
      }
      return { value: items, end: at };
    }
    default:
      throw new Error(`not a RESP reply: type byte 0x${(type ?? 0).toString(16)} at offset ${start}`);
  }
}

/** Turns the bytes of a connection into replies, however the bytes are cut into chunks. */
export class ReplyParser {
  private rest: Buffer | undefined;

  /** `wantsBytes`: whether the next reply's bulk string is wanted as bytes rather than text. */
  constructor(
    private readonly onReply: (reply: Reply) => void,
    private readonly wantsBytes: () => boolean = () => false,
  ) {}

  push(chunk: Buffer): void {
    const buffer = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = undefined;
    let at = 0;
    while (at < buffer.length) {
      const parsed = parseAt(buffer, at, this.wantsBytes());
      if (parsed === INCOMPLETE) {
        this.rest = buffer.subarray(at);
        return;
      }
      at = parsed.end;
      this.onReply(parsed.value);
    }
  }

  /** Drops a partial reply (the connection it came from is gone). */
  reset(): void {
    this.rest = undefined;
  }
}
