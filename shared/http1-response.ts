// An incremental reader of HTTP/1.1 responses, pure: bytes in, whole responses out. The lean
// client (http1-client.ts) feeds it what a kept-alive connection receives; it knows the three ways
// a response body can end (Content-Length, chunked transfer coding, the connection closing), skips
// interim 1xx answers and says whether the connection may carry another request.
//
// It reads what a sink answers a POST: no pipelining (one response per request in flight), no
// upgrade. Anything it cannot read is an Http1ResponseError, and the connection is to be dropped.

export type Http1Response = {
  status: number;
  statusText: string;
  body: Buffer;
  /** Whether the connection may carry another request (HTTP/1.1 without `Connection: close`). */
  keepAlive: boolean;
  /** The server's `Keep-Alive: timeout=N`, in ms: how long it keeps an idle connection open. */
  keepAliveTimeoutMs: number | undefined;
};

export class Http1ResponseError extends Error {
  constructor(message: string) {
    super(`unreadable HTTP response: ${message}`);
    this.name = 'Http1ResponseError';
  }
}

/** A head larger than this is no sink's answer. */
const MAX_HEAD_BYTES = 64 * 1024;
/** Larger bodies are refused rather than buffered: every answer the sources read is small. */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;

const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/;

type Head = Omit<Http1Response, 'body'> & { length: number | 'chunked' | 'until-close' };

type Reading =
  | { kind: 'head' }
  | { kind: 'body'; head: Head; remaining: number }
  | { kind: 'chunk-size'; head: Head }
  | { kind: 'chunk-data'; head: Head; remaining: number }
  | { kind: 'chunk-end'; head: Head }
  | { kind: 'trailers'; head: Head }
  | { kind: 'until-close'; head: Head };

export type Http1ResponseReader = {
  /** The responses these bytes complete (usually none or one). Throws Http1ResponseError. */
  push(bytes: Buffer): Http1Response[];
  /** The connection closed: the response it completes (a body read until close), if any. */
  end(): Http1Response | undefined;
};

export function createHttp1ResponseReader(): Http1ResponseReader {
  let buffer: Buffer = Buffer.alloc(0);
  let reading: Reading = { kind: 'head' };
  let bodyParts: Buffer[] = [];
  let bodyBytes = 0;

  const takeBody = (bytes: Buffer) => {
    bodyBytes += bytes.length;
    if (bodyBytes > MAX_BODY_BYTES) throw new Http1ResponseError(`body over ${MAX_BODY_BYTES} bytes`);
    bodyParts.push(bytes);
  };
  const complete = (head: Head): Http1Response => {
    const body = bodyParts.length === 1 ? bodyParts[0]! : Buffer.concat(bodyParts);
    bodyParts = [];
    bodyBytes = 0;
    reading = { kind: 'head' };
    return { status: head.status, statusText: head.statusText, body, keepAlive: head.keepAlive, keepAliveTimeoutMs: head.keepAliveTimeoutMs };
  };
  /** The next CRLF-terminated line of the buffer, consumed; undefined until it has all arrived. */
  const takeLine = (limit: number): string | undefined => {
    const end = buffer.indexOf(CRLF);
    if (end < 0) {
      if (buffer.length > limit) throw new Http1ResponseError(`line over ${limit} bytes`);
      return undefined;
    }
    const line = buffer.toString('latin1', 0, end);
    buffer = buffer.subarray(end + 2);
    return line;
  };

  /** One step of reading; false when it needs more bytes. */
  const step = (out: Http1Response[]): boolean => {
    switch (reading.kind) {
      case 'head': {
        const end = buffer.indexOf(HEAD_END);
        if (end < 0) {
          if (buffer.length > MAX_HEAD_BYTES) throw new Http1ResponseError(`head over ${MAX_HEAD_BYTES} bytes`);
          return false;
        }
        const head = toHead(buffer.toString('latin1', 0, end));
        buffer = buffer.subarray(end + 4);
        if (head.status >= 100 && head.status < 200) return true; // interim (100 Continue): the answer follows
        if (head.length === 'chunked') reading = { kind: 'chunk-size', head };
        else if (head.length === 'until-close') reading = { kind: 'until-close', head };
        else if (head.length === 0) out.push(complete(head));
        else reading = { kind: 'body', head, remaining: head.length };
        return true;
      }
      case 'body':
      case 'chunk-data': {
        if (buffer.length === 0) return false;
        const take = Math.min(reading.remaining, buffer.length);
        takeBody(buffer.subarray(0, take));
        buffer = buffer.subarray(take);
        reading.remaining -= take;
        if (reading.remaining > 0) return false;
        if (reading.kind === 'body') out.push(complete(reading.head));
        else reading = { kind: 'chunk-end', head: reading.head };
        return true;
      }
      case 'chunk-size': {
        const line = takeLine(1024);
        if (line === undefined) return false;
        const size = toChunkSize(line);
        reading = size === 0 ? { kind: 'trailers', head: reading.head } : { kind: 'chunk-data', head: reading.head, remaining: size };
        return true;
      }
      case 'chunk-end': {
        if (buffer.length < 2) return false;
        if (buffer[0] !== 0x0d || buffer[1] !== 0x0a) throw new Http1ResponseError('chunk not followed by CRLF');
        buffer = buffer.subarray(2);
        reading = { kind: 'chunk-size', head: reading.head };
        return true;
      }
      case 'trailers': {
        const line = takeLine(MAX_HEAD_BYTES);
        if (line === undefined) return false;
        if (line === '') out.push(complete(reading.head));
        return true;
      }
      case 'until-close': {
        if (buffer.length === 0) return false;
        takeBody(buffer);
        buffer = Buffer.alloc(0);
        return false;
      }
    }
  };

  return {
    push(bytes) {
      buffer = buffer.length === 0 ? bytes : Buffer.concat([buffer, bytes]);
      const out: Http1Response[] = [];
      while (step(out));
      return out;
    },
    end() {
      if (reading.kind === 'until-close') return complete(reading.head);
      return undefined;
    },
  };
}

/** The status line and the headers that decide how the body ends and whether the connection stays. */
function toHead(text: string): Head {
  const lines = text.split('\r\n');
  const statusLine = STATUS_LINE.exec(lines[0] ?? '');
  if (!statusLine) throw new Http1ResponseError(`bad status line ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
  const http10 = statusLine[1] === '0';
  const status = Number(statusLine[2]);
  let contentLength: number | undefined;
  let chunked = false;
  let connection = '';
  let keepAliveTimeoutMs: number | undefined;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Http1ResponseError(`bad header line ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'content-length') contentLength = toContentLength(value, contentLength);
    else if (name === 'transfer-encoding') chunked = /(?:^|,)\s*chunked\s*$/i.test(value);
    else if (name === 'connection') connection = value.toLowerCase();
    else if (name === 'keep-alive') keepAliveTimeoutMs = toKeepAliveTimeoutMs(value);
  }
  const bodiless = status === 204 || status === 304 || (status >= 100 && status < 200);
  const length = bodiless ? 0 : chunked ? 'chunked' : (contentLength ?? 'until-close');
  const keepAlive = length !== 'until-close' && (http10 ? /\bkeep-alive\b/.test(connection) : !/\bclose\b/.test(connection));
  return { status, statusText: statusLine[3] ?? '', length, keepAlive, keepAliveTimeoutMs };
}

function toContentLength(value: string, earlier: number | undefined): number {
  if (!/^\d{1,15}$/.test(value)) throw new Http1ResponseError(`bad Content-Length ${JSON.stringify(value.slice(0, 40))}`);
  const length = Number(value);
  if (earlier !== undefined && earlier !== length) throw new Http1ResponseError('two different Content-Length headers');
  if (length > MAX_BODY_BYTES) throw new Http1ResponseError(`body over ${MAX_BODY_BYTES} bytes`);
  return length;
}

function toChunkSize(line: string): number {
  const size = /^([0-9a-fA-F]{1,8})\s*(?:;.*)?$/.exec(line);
  if (!size) throw new Http1ResponseError(`bad chunk size line ${JSON.stringify(line.slice(0, 40))}`);
  return parseInt(size[1]!, 16);
}

function toKeepAliveTimeoutMs(value: string): number | undefined {
  const timeout = /(?:^|,)\s*timeout\s*=\s*(\d+)/i.exec(value);
  return timeout ? Number(timeout[1]) * 1000 : undefined;
}
