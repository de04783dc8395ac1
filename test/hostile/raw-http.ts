// Test-only: HTTP/1.1 over a plain TCP socket, so a test can send what fetch and node:http refuse
// to (CR LF or control characters in a header, bytes that are not Latin-1, a broken request line)
// and read back exactly what the server answered.
import { Buffer } from 'node:buffer';
import { connect } from 'node:net';

export type RawRequest = {
  method?: string;
  path?: string;
  /** Written as `name: value` lines exactly as given (no validation, no encoding). */
  headers?: ReadonlyArray<readonly [string, string | Uint8Array]>;
  body?: string | Uint8Array;
  /** Add a correct Content-Length (default true). */
  contentLength?: boolean;
};

export type RawResponse = {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The whole answer, for failure messages. */
  text: string;
};

export function buildRequest(request: RawRequest): Buffer {
  const body = request.body === undefined ? Buffer.alloc(0) : Buffer.from(request.body);
  const lines: Buffer[] = [Buffer.from(`${request.method ?? 'POST'} ${request.path ?? '/'} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n`, 'latin1')];
  for (const [name, value] of request.headers ?? []) {
    lines.push(Buffer.concat([Buffer.from(`${name}: `, 'latin1'), Buffer.from(value), Buffer.from('\r\n', 'latin1')]));
  }
  if (request.contentLength !== false) lines.push(Buffer.from(`Content-Length: ${body.length}\r\n`, 'latin1'));
  lines.push(Buffer.from('\r\n', 'latin1'), body);
  return Buffer.concat(lines);
}

function parseResponse(bytes: Buffer): RawResponse {
  const text = bytes.toString('utf8');
  const end = text.indexOf('\r\n\r\n');
  const head = end === -1 ? text : text.slice(0, end);
  const [statusLine = '', ...headerLines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = end === -1 ? '' : text.slice(end + 4);
  if (headers['transfer-encoding'] === 'chunked') body = dechunk(body);
  return { status: Number(statusLine.split(' ')[1] ?? 0), headers, body, text };
}

function dechunk(body: string): string {
  let out = '';
  let rest = body;
  for (;;) {
    const lineEnd = rest.indexOf('\r\n');
    if (lineEnd === -1) return out;
    const size = Number.parseInt(rest.slice(0, lineEnd), 16);
    if (!(size > 0)) return out;
    out += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    rest = rest.slice(lineEnd + 2 + size + 2);
  }
}

/**
 * Sends the bytes and reads until the server closes the connection (we ask it to). Our side
 * stays open for writing: node's HTTP server drops a response when the client half-closes first.
 */
export function sendRaw(port: number, bytes: Uint8Array, timeoutMs = 15_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 300))}`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // The server may answer (and close) before it has read everything we send.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parseResponse(Buffer.concat(chunks)));
    });
    socket.write(bytes);
  });
}

export function rawHttp(port: number, request: RawRequest): Promise<RawResponse> {
  return sendRaw(port, buildRequest(request));
}
