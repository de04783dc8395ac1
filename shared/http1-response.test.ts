import { describe, expect, it } from 'vitest';
import { createHttp1ResponseReader, Http1ResponseError, MAX_BODY_BYTES, type Http1Response } from './http1-response';

/** Feeds `wire` to a new reader in pieces of `size` bytes; every response it gave, and at close. */
function read(wire: string, size = wire.length, closeAtEnd = false): Http1Response[] {
  const reader = createHttp1ResponseReader();
  const bytes = Buffer.from(wire, 'latin1');
  const out: Http1Response[] = [];
  for (let at = 0; at < bytes.length; at += size) out.push(...reader.push(bytes.subarray(at, at + size)));
  if (closeAtEnd) {
    const last = reader.end();
    if (last) out.push(last);
  }
  return out;
}

const simplify = (response: Http1Response) => ({ ...response, body: response.body.toString('latin1') });

describe('reading HTTP/1.1 responses', () => {
  const cases: Array<{ name: string; wire: string; expected: Partial<ReturnType<typeof simplify>> }> = [
    {
      name: 'a Content-Length body',
      wire: 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello',
      expected: { status: 200, statusText: 'OK', body: 'hello', keepAlive: true, keepAliveTimeoutMs: undefined },
    },
    {
      name: 'a chunked body with an extension and a trailer',
      wire: 'HTTP/1.1 207 Multi-Status\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nx-trailer: 1\r\n\r\n',
      expected: { status: 207, body: 'abc0123456789', keepAlive: true },
    },
    {
      name: 'a 204 with no body',
      wire: 'HTTP/1.1 204 No Content\r\n\r\n',
      expected: { status: 204, body: '', keepAlive: true },
    },
    {
      name: 'Connection: close',
      wire: 'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}',
      expected: { status: 503, body: '{}', keepAlive: false },
    },
    {
      name: "the server's keep-alive timeout",
      wire: 'HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n',
      expected: { status: 200, body: '', keepAlive: true, keepAliveTimeoutMs: 5000 },
    },
    {
      name: 'HTTP/1.0 without keep-alive',
      wire: 'HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx',
      expected: { status: 200, body: 'x', keepAlive: false },
    },
    {
      name: 'an interim 100 Continue before the answer',
      wire: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad',
      expected: { status: 400, body: 'bad' },
    },
  ];

  for (const { name, wire, expected } of cases) {
    it(`reads ${name}, whole or a byte at a time`, () => {
      for (const size of [wire.length, 1, 7]) {
        const responses = read(wire, size).map(simplify);
        expect(responses, `in pieces of ${size}`).toHaveLength(1);
        expect(responses[0], `in pieces of ${size}`).toMatchObject(expected);
      }
    });
  }

  it('waits for the rest of a body, and gives nothing for a part', () => {
    expect(read('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello')).toEqual([]);
  });

  it('reads a body with no length until the connection closes, and the connection is not reused', () => {
    expect(read('HTTP/1.1 200 OK\r\n\r\nuntil ', 3)).toEqual([]);
    const [response] = read('HTTP/1.1 200 OK\r\n\r\nuntil close', 3, true).map(simplify);
    expect(response).toMatchObject({ status: 200, body: 'until close', keepAlive: false });
  });

  it('reads two answers that arrive together, in order', () => {
    const responses = read('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 202 Accepted\r\nContent-Length: 1\r\n\r\nb').map(simplify);
    expect(responses.map((response) => [response.status, response.body])).toEqual([
      [200, 'a'],
      [202, 'b'],
    ]);
  });

  const malformed: Array<[string, string, RegExp]> = [
    ['a status line that is not HTTP', 'SSH-2.0-OpenSSH\r\n\r\n', /bad status line "SSH-2.0-OpenSSH"/],
    ['a header line without a colon', 'HTTP/1.1 200 OK\r\nno colon here\r\n\r\n', /bad header line "no colon here"/],
    ['a Content-Length that is not a number', 'HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n', /bad Content-Length "12abc"/],
    ['two different Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', /two different Content-Length/],
    ['a chunk size that is not hex', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /bad chunk size line "zz"/],
    ['a chunk not followed by CRLF', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naXY', /chunk not followed by CRLF/],
    ['a body over the limit', `HTTP/1.1 200 OK\r\nContent-Length: ${MAX_BODY_BYTES + 1}\r\n\r\n`, /body over/],
  ];
  for (const [name, wire, message] of malformed) {
    it(`refuses ${name}, naming what is wrong`, () => {
      expect(() => read(wire)).toThrow(Http1ResponseError);
      expect(() => read(wire)).toThrow(message);
    });
  }

  it('refuses a head that never ends', () => {
    const reader = createHttp1ResponseReader();
    expect(() => reader.push(Buffer.alloc(70 * 1024, 'a'))).toThrow(/head over/);
  });
});
