// Adapter tier: the router and the body reader behind a real node:http server on port 0.
import { request as httpRequest, type Server } from 'node:http';
import { once } from 'node:events';
import { connect, type AddressInfo } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../errors';
import { waitFor } from '../../test/helpers/ports';
import { sendRaw, buildRequest } from '../../test/hostile/raw-http';
import { createDrainableServer, HEADERS_TIMEOUT_MS, KEEP_ALIVE_TIMEOUT_MS } from './drainable-server';
import { toRequestErrorResponse } from './error-response';
import { readBody } from './http-body';
import { createRouter } from './http-router';

const LIMIT = 1024;

describe('the router', () => {
  let server: Server;
  let base: string;
  let port: number;
  const lifecycle = createDrainableServer();
  const aborted: unknown[] = [];

  beforeAll(async () => {
    const router = createRouter();
    router
      .get('/metrics', (_req, res) => res.status(200).type('text/plain; version=0.0.4; charset=utf-8').send('up 1\n'))
      .get('/results/:id', (req, res) => res.status(200).json({ id: req.params.id, q: req.query.get('q') }))
      .get('/things/:a/parts/:b', (req, res) => res.json(req.params))
      .get('/sync-throw', () => {
        throw new Error('thrown before answering');
      })
      .get('/async-throw', async () => {
        throw new ValidationError('rejected before answering');
      })
      .post('/tracked', lifecycle.refuseWhileDraining('tester', async (req, res) => {
        await readBody(req.raw, LIMIT).then(
          () => res.status(204).end(),
          (error: unknown) => {
            aborted.push(error);
            res.status(400).end();
          },
        );
      }))
      .post('/echo', async (req, res) => {
        try {
          res.status(200).send(await readBody(req.raw, LIMIT));
        } catch (error) {
          const answer = toRequestErrorResponse(error);
          res.status(answer.status).json({ error: answer.code, message: answer.message });
        }
      });
    server = await lifecycle.listen(router, 0, '127.0.0.1');
    port = (server.address() as AddressInfo).port;
    base = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await lifecycle.drain(1_000);
  });

  it('answers a route written as one line, with its content type', async () => {
    const response = await fetch(`${base}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await response.text()).toBe('up 1\n');
  });

  it('decodes path parameters and reads the query', async () => {
    expect(await (await fetch(`${base}/results/a%20b?q=1`)).json()).toEqual({ id: 'a b', q: '1' });
    expect(await (await fetch(`${base}/things/x/parts/y`)).json()).toEqual({ a: 'x', b: 'y' });
  });

  it('ignores one trailing slash', async () => {
    expect((await fetch(`${base}/metrics/`)).status).toBe(200);
    expect(await (await fetch(`${base}/results/r1/`)).json()).toMatchObject({ id: 'r1' });
  });

  it('answers HEAD like GET, without a body', async () => {
    const response = await fetch(`${base}/metrics`, { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('');
  });

  it('answers an unknown path with 404 and another method with 405, both naming the problem', async () => {
    const missing = await fetch(`${base}/nowhere`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'NOT_FOUND', message: 'no route for GET /nowhere' });
    const wrong = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET, HEAD');
    expect(((await wrong.json()) as { message: string }).message).toMatch(/POST is not allowed on \/metrics/);
    expect((await fetch(`${base}/results/`)).status).toBe(404);
  });

  it('answers a path that is not valid percent-encoded UTF-8 with 400', async () => {
    const response = await sendRaw(port, buildRequest({ method: 'GET', path: '/results/%ff%fe' }));
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body)).toMatchObject({ error: 'BAD_REQUEST', message: expect.stringMatching(/percent-encoded/) });
  });

  it('answers a handler that throws or rejects with 500 naming the error', async () => {
    const thrown = await fetch(`${base}/sync-throw`);
    expect([thrown.status, await thrown.json()]).toEqual([500, { error: 'INTERNAL', message: 'thrown before answering' }]);
    const rejected = await fetch(`${base}/async-throw`);
    expect([rejected.status, ((await rejected.json()) as { message: string }).message]).toEqual([500, 'rejected before answering']);
  });

  it('keeps idle connections longer than clients do (no reset on reuse), and the headers deadline above that', () => {
    expect(server.keepAliveTimeout).toBe(KEEP_ALIVE_TIMEOUT_MS);
    expect(KEEP_ALIVE_TIMEOUT_MS).toBeGreaterThanOrEqual(60_000);
    expect(server.headersTimeout).toBe(HEADERS_TIMEOUT_MS);
    expect(HEADERS_TIMEOUT_MS).toBeGreaterThan(KEEP_ALIVE_TIMEOUT_MS);
  });

  it('serves several requests over one kept-alive connection', async () => {
    const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    try {
      for (let i = 0; i < 3; i += 1) {
        await new Promise<void>((resolve, reject) => {
          const req = httpRequest(`${base}/metrics`, { agent }, (res) => {
            sockets.add(res.socket);
            res.resume();
            res.on('end', resolve);
          });
          req.on('error', reject);
          req.end();
        });
      }
      expect(sockets.size).toBe(1);
    } finally {
      agent.destroy();
    }
  });

  describe('request bodies', () => {
    const echo = (body: Uint8Array | string, headers: Record<string, string> = {}) =>
      fetch(`${base}/echo`, { method: 'POST', headers, body });

    it.each([
      ['identity', (b: Buffer) => b, undefined],
      ['gzip', gzipSync, 'gzip'],
      ['deflate', deflateSync, 'deflate'],
      ['br', brotliCompressSync, 'br'],
      ['gzip, upper case', gzipSync, 'GZIP'],
    ] as const)('reads a body in %s', async (_name, encode, encoding) => {
      const text = 'hello '.repeat(50);
      const response = await echo(encode(Buffer.from(text)), encoding ? { 'content-encoding': encoding } : {});
      expect(response.status).toBe(200);
      expect(await response.text()).toBe(text);
    });

    it('refuses a body over the limit with 413, whether it says its length or not', async () => {
      const declared = await echo('x'.repeat(LIMIT + 1));
      expect([declared.status, await declared.json()]).toEqual([413, { error: 'PAYLOAD_TOO_LARGE', message: `request body too large: more than ${LIMIT} bytes` }]);
      const chunked = await sendRaw(port, Buffer.concat([
        buildRequest({ path: '/echo', headers: [['transfer-encoding', 'chunked']], contentLength: false }),
        Buffer.from(`${(LIMIT + 10).toString(16)}\r\n${'y'.repeat(LIMIT + 10)}\r\n0\r\n\r\n`),
      ]));
      expect(chunked.status).toBe(413);
    });

    it('refuses a small compressed body that inflates beyond the limit with 413 (a zip bomb)', async () => {
      const response = await echo(gzipSync(Buffer.alloc(LIMIT * 1000)), { 'content-encoding': 'gzip' });
      expect(response.status).toBe(413);
    });

    it('refuses an unknown encoding with 415 and a corrupt one with 400', async () => {
      const unknown = await echo('x', { 'content-encoding': 'compress' });
      expect([unknown.status, ((await unknown.json()) as { message: string }).message]).toEqual([415, 'unsupported content encoding "compress"']);
      const corrupt = await echo('not deflate at all', { 'content-encoding': 'deflate' });
      expect(corrupt.status).toBe(400);
      expect(((await corrupt.json()) as { message: string }).message).toMatch(/cannot decode the deflate body: incorrect header check/);
      const truncated = await echo(gzipSync(Buffer.from('hello')).subarray(0, 12), { 'content-encoding': 'gzip' });
      expect(truncated.status).toBe(400);
    });

    it('a client that goes away mid-body ends the request: it is no longer in flight', async () => {
      const socket = connect(port, '127.0.0.1');
      await once(socket, 'connect');
      socket.write('POST /tracked HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789');
      await waitFor('the request to be in flight', () => lifecycle.inFlight() === 1);
      socket.destroy();
      await waitFor('the request to end', () => lifecycle.inFlight() === 0);
      expect(String(aborted[0])).toMatch(/aborted/);
    });

    it('answers 413 to a client still sending a large body, and the connection serves the next request', async () => {
      const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const post = (body: Buffer) =>
          new Promise<number>((resolve, reject) => {
            const req = httpRequest(`${base}/echo`, { method: 'POST', agent, headers: { 'content-length': body.length } }, (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            });
            req.on('error', reject);
            req.end(body);
          });
        expect(await post(Buffer.alloc(4 * 1024 * 1024, 0x61))).toBe(413);
        expect(await post(Buffer.from('small'))).toBe(200);
      } finally {
        agent.destroy();
      }
    });
  });
});
