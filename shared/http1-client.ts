// POSTs to one plain-HTTP URL over a small pool of kept-alive HTTP/1.1 connections, written
// straight to the socket: one write per request (head and body together) and a small reader for
// the answer (http1-response.ts). node:http's client builds a ClientRequest, an IncomingMessage
// and their streams for every POST; on the sources' hot path, where the worker gets one request
// per task, this client cut the process's CPU by a fifth (docs/decisions/0023).
//
// What it keeps from node's keep-alive agent:
// - at most `maxSockets` connections, the most recently used idle one first; requests beyond
//   that wait for a connection;
// - an idle connection is not reused within a second of the server's `Keep-Alive: timeout=N`,
//   and idle connections do not keep the process alive;
// - a request written on a reused connection that the server closed at that moment (a reset, or
//   the connection closed before any byte of an answer) is sent once more on a new connection:
//   that is not the sink failing, and every delivery is idempotent downstream;
// - header names and values are checked as node:http checks them (a TypeError, nothing sent).
import net from 'node:net';
import { createHttp1ResponseReader, type Http1Response, type Http1ResponseReader } from './http1-response';
import { PostError, STALE_CONNECTION_CODES, toSocketHost, type PostAnswer, type Poster, type PostRequest } from './poster';

type Exchange = {
  answer(response: Http1Response): void;
  /** The request failed; `stale`: on a reused connection closed before any byte of an answer. */
  fail(error: Error & { code?: string }, stale: boolean): void;
};

type Connection = {
  readonly socket: net.Socket;
  readonly reader: Http1ResponseReader;
  /** Whether it carried a request before the current one. */
  reused: boolean;
  /** Whether any byte of the current request's answer has arrived. */
  answering: boolean;
  current: Exchange | undefined;
  /** Until when it may be reused, idle: the server's Keep-Alive timeout less a second's margin. */
  reuseUntil: number;
};

type Waiter = { resolve(connection: Connection): void; reject(error: Error): void };

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const INVALID_HEADER_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const PRINTABLE_ASCII_HEAD = /^[\t\n\r\x20-\x7e]*$/;
const KEEP_ALIVE_MARGIN_MS = 1000;

export function createHttp1Client(url: URL, options: { maxSockets: number }): Poster {
  const target = { host: toSocketHost(url), port: Number(url.port || 80) };
  const headStart = `POST ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n`;
  const idle: Connection[] = [];
  const all = new Set<Connection>();
  const waiting: Waiter[] = [];
  let closed = false;

  const open = (): Connection => {
    const connection = openConnection(target, { answered: release, closed: forget });
    all.add(connection);
    return connection;
  };
  function forget(connection: Connection) {
    all.delete(connection);
    const index = idle.indexOf(connection);
    if (index >= 0) idle.splice(index, 1);
    if (!closed && waiting.length > 0 && all.size < options.maxSockets) waiting.shift()!.resolve(open());
  }
  /** The answer arrived: the connection goes to the next waiting request, or idles. */
  function release(connection: Connection, response: Http1Response) {
    if (!response.keepAlive || closed) {
      connection.socket.destroy();
      return;
    }
    connection.reused = true;
    const keepAliveMs = response.keepAliveTimeoutMs;
    connection.reuseUntil = keepAliveMs === undefined ? Infinity : Date.now() + keepAliveMs - KEEP_ALIVE_MARGIN_MS;
    const next = waiting.shift();
    if (next) return next.resolve(connection);
    connection.socket.unref();
    idle.push(connection);
  }
  const acquire = (fresh: boolean): Promise<Connection> | Connection => {
    if (closed) throw new PostError('the poster is closed', { code: 'ECONNRESET' });
    while (!fresh && idle.length > 0) {
      const connection = idle.pop()!;
      if (connection.reuseUntil > Date.now()) return connection;
      connection.socket.destroy();
    }
    if (fresh || all.size < options.maxSockets) return open();
    return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
  };
  const exchange = async (request: PostRequest, wire: string | Buffer, fresh: boolean) => send(await acquire(fresh), request, wire);

  return {
    async post(request) {
      const wire = toWire(headStart, request);
      const first = await exchange(request, wire, false);
      if (first !== 'stale') return first;
      const second = await exchange(request, wire, true);
      if (second === 'stale') throw new PostError('connection reset by the sink', { code: 'ECONNRESET' });
      return second;
    },
    close() {
      closed = true;
      for (const connection of all) connection.socket.destroy();
      for (const waiter of waiting.splice(0)) waiter.reject(new PostError('the poster is closed', { code: 'ECONNRESET' }));
    },
  };
}

type ConnectionEvents = {
  answered(connection: Connection, response: Http1Response): void;
  closed(connection: Connection): void;
};

function openConnection(target: { host: string; port: number }, events: ConnectionEvents): Connection {
  const socket = net.connect({ ...target, noDelay: true, keepAlive: true, keepAliveInitialDelay: 1000 });
  const connection: Connection = {
    socket,
    reader: createHttp1ResponseReader(),
    reused: false,
    answering: false,
    current: undefined,
    reuseUntil: Infinity,
  };
  const fail = (error: Error & { code?: string }) => {
    const exchange = connection.current;
    connection.current = undefined;
    const stale = connection.reused && !connection.answering && (error.code === undefined || STALE_CONNECTION_CODES.has(error.code));
    exchange?.fail(error, stale);
  };
  const finish = (response: Http1Response) => {
    const exchange = connection.current;
    connection.current = undefined;
    // An answer nobody asked for: this connection cannot be trusted.
    if (!exchange) return socket.destroy();
    exchange.answer(response);
    events.answered(connection, response);
  };
  socket.on('data', (bytes: Buffer) => {
    connection.answering = true;
    try {
      for (const response of connection.reader.push(bytes)) finish(response);
    } catch (error) {
      fail(error as Error);
      socket.destroy();
    }
  });
  socket.on('end', () => {
    const last = connection.reader.end();
    if (last) finish(last);
    socket.destroy();
  });
  socket.on('error', fail);
  socket.on('close', () => {
    fail(new PostError('the sink closed the connection before answering', { code: 'ECONNRESET' }));
    events.closed(connection);
  });
  return connection;
}

/** Writes the request on the connection; its answer, or 'stale' (send it again on a new one). */
function send(connection: Connection, request: PostRequest, wire: string | Buffer): Promise<PostAnswer | 'stale'> {
  return new Promise((resolve, reject) => {
    const { socket } = connection;
    const settled = () => {
      clearTimeout(timer);
      request.signal?.removeEventListener('abort', onAbort);
    };
    connection.current = {
      answer(response) {
        settled();
        resolve({ status: response.status, statusText: response.statusText, body: response.body.toString('utf8') });
      },
      fail(error, stale) {
        settled();
        if (stale) resolve('stale');
        else reject(error instanceof PostError ? error : new PostError(error.message, { code: error.code, cause: error }));
      },
    };
    const giveUp = (error: PostError) => {
      const exchange = connection.current;
      connection.current = undefined;
      exchange?.fail(error, false);
      socket.destroy();
    };
    const timer = setTimeout(() => giveUp(new PostError(`no answer within ${request.timeoutMs} ms`, { name: 'TimeoutError' })), request.timeoutMs);
    const onAbort = () => giveUp(new PostError('delivery abandoned', { name: 'AbortError' }));
    if (request.signal?.aborted) return onAbort();
    request.signal?.addEventListener('abort', onAbort, { once: true });
    // Closed while it waited to be handed over: the same as closed as the request went out.
    if (socket.destroyed) return connection.current.fail(new PostError('connection closed', { code: 'ECONNRESET' }), connection.reused);
    connection.answering = false;
    socket.ref();
    socket.write(wire);
  });
}

/** The request's bytes: head and body in one write. Throws TypeError for a header node:http refuses. */
function toWire(headStart: string, request: PostRequest): string | Buffer {
  let head = headStart;
  for (const name in request.headers) {
    const value = request.headers[name]!;
    if (!HEADER_NAME.test(name)) throw new TypeError(`Invalid header name: ${JSON.stringify(name)}`);
    if (INVALID_HEADER_VALUE.test(value)) throw new TypeError(`Invalid header value char in ${JSON.stringify(name)}`);
    const lower = name.toLowerCase();
    if (lower === 'content-length' || lower === 'host') continue;
    head += `${name}: ${value}\r\n`;
  }
  const body = request.body ?? '';
  head += `content-length: ${Buffer.byteLength(body)}\r\n\r\n`;
  // Header bytes are latin1, as node:http sends them; a printable-ASCII head can share the body's string.
  if (typeof body === 'string' && PRINTABLE_ASCII_HEAD.test(head)) return head + body;
  return Buffer.concat([Buffer.from(head, 'latin1'), typeof body === 'string' ? Buffer.from(body, 'utf8') : body]);
}
