// The lean HTTP/1.1 client against real node:http servers on free ports.
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../test/helpers/ports';
import { createHttp1Client } from './http1-client';
import type { Poster } from './poster';

type Started = { url: URL; connections: () => number; open: () => number; dropIdle: () => void; close: () => Promise<void> };

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function startServer(handler: http.RequestListener, setup?: (server: http.Server) => void): Promise<Started> {
  const server = http.createServer(handler);
  setup?.(server);
  let connections = 0;
  let open = 0;
  server.on('connection', (socket) => {
    connections += 1;
    open += 1;
    socket.on('close', () => (open -= 1));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  closers.push(close);
  return {
    url: new URL(`http://127.0.0.1:${port}/deliver?x=1`),
    connections: () => connections,
    open: () => open,
    dropIdle: () => server.closeIdleConnections(),
    close,
  };
}

function clientFor(url: URL, maxSockets = 4): Poster {
  const poster = createHttp1Client(url, { maxSockets });
  closers.push(async () => poster.close());
  return poster;
}

async function readBody(request: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

describe('the lean HTTP/1.1 client', () => {
  it('POSTs headers and body to the URL and reads the answer, over one kept-alive connection', async () => {
    const seen: Array<{ method?: string; url?: string; headers: http.IncomingHttpHeaders; body: string }> = [];
    const server = await startServer(async (request, response) => {
      seen.push({ method: request.method, url: request.url, headers: request.headers, body: await readBody(request) });
      response.writeHead(202, 'Taken', { 'content-type': 'application/json' }).end('{"ok":"é"}');
    });
    const poster = clientFor(server.url);
    for (const body of ['{"n":1}', Buffer.from('{"n":"ü"}')]) {
      const answer = await poster.post({ headers: { 'ce-id': 'a1', 'content-type': 'application/json' }, body, timeoutMs: 5000 });
      expect(answer).toEqual({ status: 202, statusText: 'Taken', body: '{"ok":"é"}' });
    }
    expect(seen.map((request) => [request.method, request.url, request.body])).toEqual([
      ['POST', '/deliver?x=1', '{"n":1}'],
      ['POST', '/deliver?x=1', '{"n":"ü"}'],
    ]);
    expect(seen[0]!.headers).toMatchObject({ 'ce-id': 'a1', 'content-type': 'application/json', 'content-length': '7', host: server.url.host });
    expect(server.connections()).toBe(1);
  });

  it('sends header values beyond ASCII as latin1 bytes, as node:http does', async () => {
    let subject: string | undefined;
    const server = await startServer(async (request, response) => {
      subject = request.headers['ce-subject'] as string;
      response.end(await readBody(request));
    });
    const poster = clientFor(server.url);
    expect((await poster.post({ headers: { 'ce-subject': 'café' }, body: 'ü', timeoutMs: 5000 })).body).toBe('ü');
    expect(subject).toBe('café');
  });

  it('reads chunked answers and answers that close the connection, then opens a new one', async () => {
    let count = 0;
    const server = await startServer(async (request, response) => {
      await readBody(request);
      count += 1;
      if (count === 1) {
        response.write('part one, ');
        response.end('part two');
      } else response.writeHead(200, { connection: 'close', 'content-length': '4' }).end('last');
    });
    const poster = clientFor(server.url);
    expect((await poster.post({ headers: {}, body: 'a', timeoutMs: 5000 })).body).toBe('part one, part two');
    expect((await poster.post({ headers: {}, body: 'b', timeoutMs: 5000 })).body).toBe('last');
    expect((await poster.post({ headers: {}, body: 'c', timeoutMs: 5000 })).body).toBe('last');
    expect(server.connections()).toBe(2);
  });

  it('keeps to maxSockets connections, and the requests beyond them wait their turn', async () => {
    let active = 0;
    let mostActive = 0;
    const server = await startServer(async (request, response) => {
      active += 1;
      mostActive = Math.max(mostActive, active);
      const body = await readBody(request);
      setTimeout(() => {
        active -= 1;
        response.end(body);
      }, 10);
    });
    const poster = clientFor(server.url, 3);
    const answers = await Promise.all(Array.from({ length: 12 }, (_, index) => poster.post({ headers: {}, body: String(index), timeoutMs: 5000 })));
    expect(answers.map((answer) => answer.body)).toEqual(Array.from({ length: 12 }, (_, index) => String(index)));
    expect(mostActive).toBe(3);
    expect(server.connections()).toBe(3);
  });

  it('sends a request again on a new connection when the server closed the kept-alive one as it went out', async () => {
    // The server answers the first request on each connection and drops the connection when a
    // second one arrives on it, unanswered: what a keep-alive timeout racing a request looks like.
    const server = await startServer(async (request, response) => {
      const socket = request.socket as net.Socket & { served?: number };
      socket.served = (socket.served ?? 0) + 1;
      if (socket.served > 1) return socket.destroy();
      response.end(await readBody(request));
    });
    const poster = clientFor(server.url, 1);
    expect((await poster.post({ headers: {}, body: 'first', timeoutMs: 5000 })).body).toBe('first');
    expect((await poster.post({ headers: {}, body: 'again', timeoutMs: 5000 })).body).toBe('again');
    expect(server.connections()).toBe(2);
  });

  it('does not send again when a new connection is closed without an answer: the sink failed', async () => {
    const server = await startServer((request) => request.socket.destroy());
    const poster = clientFor(server.url);
    await expect(poster.post({ headers: {}, body: 'x', timeoutMs: 5000 })).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(server.connections()).toBe(1);
  });

  it('does not reuse an idle connection the server is about to close (Keep-Alive: timeout)', async () => {
    const server = await startServer(
      async (request, response) => response.end(await readBody(request)),
      (created) => (created.keepAliveTimeout = 1000),
    );
    const poster = clientFor(server.url);
    await poster.post({ headers: {}, body: 'a', timeoutMs: 5000 });
    await poster.post({ headers: {}, body: 'b', timeoutMs: 5000 });
    expect(server.connections()).toBe(2);
  });

  it('opens a new connection once the server closed an idle one', async () => {
    const server = await startServer(async (request, response) => response.end(await readBody(request)));
    const poster = clientFor(server.url);
    await poster.post({ headers: {}, body: 'a', timeoutMs: 5000 });
    server.dropIdle();
    await waitFor('the idle connection to close', () => server.open() === 0, 5000, 5);
    expect((await poster.post({ headers: {}, body: 'b', timeoutMs: 5000 })).body).toBe('b');
    expect(server.connections()).toBe(2);
  });

  it('gives up after the timeout with a TimeoutError, and when aborted with an AbortError', async () => {
    const server = await startServer(() => undefined);
    const poster = clientFor(server.url);
    await expect(poster.post({ headers: {}, body: 'x', timeoutMs: 50 })).rejects.toMatchObject({ name: 'TimeoutError', message: 'no answer within 50 ms' });
    const abort = new AbortController();
    const pending = poster.post({ headers: {}, body: 'y', timeoutMs: 5000, signal: abort.signal });
    await waitFor('the second request to arrive', () => server.connections() === 2, 5000, 5);
    abort.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    await waitFor('the given-up connections to close', () => server.open() === 0, 5000, 5);
  });

  it('fails with the connection error code when nothing listens', async () => {
    const server = await startServer(() => undefined);
    await server.close();
    const poster = clientFor(server.url);
    await expect(poster.post({ headers: {}, body: 'x', timeoutMs: 5000 })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('refuses a header node:http would refuse, and sends nothing', async () => {
    const server = await startServer(async (request, response) => response.end(await readBody(request)));
    const poster = clientFor(server.url);
    await expect(poster.post({ headers: { 'ce-subject': 'a\r\nx-injected: 1' }, body: 'x', timeoutMs: 5000 })).rejects.toThrow(
      /invalid header value char in "ce-subject"/i,
    );
    await expect(poster.post({ headers: { 'bad name': 'v' }, body: 'x', timeoutMs: 5000 })).rejects.toThrow(TypeError);
    expect(server.connections()).toBe(0);
  });

  it('fails the requests in flight when closed', async () => {
    const server = await startServer(() => undefined);
    const poster = clientFor(server.url, 1);
    const inFlight = poster.post({ headers: {}, body: 'a', timeoutMs: 5000 });
    const queued = poster.post({ headers: {}, body: 'b', timeoutMs: 5000 });
    await waitFor('the request to arrive', () => server.connections() === 1, 5000, 5);
    const outcomes = Promise.allSettled([inFlight, queued]);
    poster.close();
    const [first, second] = await outcomes;
    expect(first).toMatchObject({ status: 'rejected', reason: { code: 'ECONNRESET' } });
    expect(second).toMatchObject({ status: 'rejected', reason: { code: 'ECONNRESET', message: 'the poster is closed' } });
  });
});
