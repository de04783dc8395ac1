// A router over node:http for the few routes a stage serves (POST / for CloudEvents, the health
// probes, an extra GET such as /results/:id or /metrics). It replaces express, which cost more CPU
// per request than the rest of the runtime and a good part of every cold start, for routing that
// fits in a page (docs/performance.md, "Function runtime and cold start").
//
// Routes are exact paths or have `:name` segments (`/results/:id`); one trailing slash is ignored;
// HEAD is answered by the GET route (node leaves the body out). No route: 404, a route for
// another method: 405 with Allow, both with a JSON body like every other refusal. A handler that
// throws (or rejects) before answering gets a 500 with the error's message.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { describeError } from '../errors';
import { RequestError } from './error-response';

export class RouteRequest {
  readonly method: string;
  readonly path: string;
  readonly params: Readonly<Record<string, string>>;
  readonly raw: IncomingMessage;
  private readonly search: string;

  constructor(raw: IncomingMessage, path: string, search: string, params: Readonly<Record<string, string>>) {
    this.raw = raw;
    this.method = raw.method ?? 'GET';
    this.path = path;
    this.search = search;
    this.params = params;
  }

  get headers(): IncomingHttpHeaders {
    return this.raw.headers;
  }

  get query(): URLSearchParams {
    return new URLSearchParams(this.search);
  }
}

/** express-style answers: `res.status(200).type('text/plain').send(text)`, `res.status(404).json(body)`. */
export class RouteResponse {
  readonly raw: ServerResponse;

  constructor(raw: ServerResponse) {
    this.raw = raw;
  }

  get headersSent(): boolean {
    return this.raw.headersSent;
  }

  status(code: number): this {
    this.raw.statusCode = code;
    return this;
  }

  set(name: string, value: string | number | readonly string[]): this {
    this.raw.setHeader(name, value);
    return this;
  }

  type(contentType: string): this {
    return this.set('content-type', contentType);
  }

  /** A string (text/plain unless a type is set) or bytes (application/octet-stream). */
  send(body: string | Uint8Array): void {
    if (!this.raw.hasHeader('content-type')) {
      this.raw.setHeader('content-type', typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream');
    }
    this.raw.setHeader('content-length', typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
    this.raw.end(body);
  }

  json(body: unknown): void {
    const text = JSON.stringify(body) ?? 'null';
    this.raw.setHeader('content-type', 'application/json; charset=utf-8');
    this.raw.setHeader('content-length', Buffer.byteLength(text));
    this.raw.end(text);
  }

  /** No body (204, or a status whose meaning is enough). */
  end(): void {
    this.raw.end();
  }
}

export type RouteHandler = (req: RouteRequest, res: RouteResponse) => void | Promise<void>;

export type Router = {
  get(path: string, handler: RouteHandler): Router;
  post(path: string, handler: RouteHandler): Router;
  /** The node:http request listener that dispatches to the routes. */
  readonly listener: (req: IncomingMessage, res: ServerResponse) => void;
};

type PatternRoute = { method: string; segments: readonly string[]; handler: RouteHandler };

const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze({});

function withoutTrailingSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

/** `/a/:b` against `/a/x%20y` → { b: 'x y' }; undefined when it does not match. */
function matchSegments(pattern: readonly string[], path: string): Record<string, string> | undefined {
  const parts = path.split('/');
  if (parts.length !== pattern.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i += 1) {
    const want = pattern[i]!;
    const part = parts[i]!;
    if (want.startsWith(':')) {
      if (part === '') return undefined;
      try {
        params[want.slice(1)] = decodeURIComponent(part);
      } catch {
        throw new RequestError(400, `path segment ${JSON.stringify(part.slice(0, 100))} is not valid percent-encoded UTF-8`);
      }
    } else if (want !== part) {
      return undefined;
    }
  }
  return params;
}

function answerError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify({ error: code, message });
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function createRouter(): Router {
  const exact = new Map<string, RouteHandler>();
  const patterns: PatternRoute[] = [];
  const paths = new Map<string, Set<string>>();

  const add = (method: string, path: string, handler: RouteHandler) => {
    const normalised = withoutTrailingSlash(path);
    if (normalised.includes('/:')) patterns.push({ method, segments: normalised.split('/'), handler });
    else exact.set(`${method} ${normalised}`, handler);
    const methods = paths.get(normalised) ?? new Set<string>();
    methods.add(method);
    paths.set(normalised, methods);
  };

  const run = (handler: RouteHandler, req: RouteRequest, res: ServerResponse) => {
    const fail = (error: unknown) => answerError(res, 500, 'INTERNAL', describeError(error));
    try {
      const done = handler(req, new RouteResponse(res));
      if (done) done.catch(fail);
    } catch (error) {
      fail(error);
    }
  };

  /** The methods some route takes at `path`, for a 405's Allow. */
  const allowedAt = (path: string): string[] => {
    const methods = new Set(paths.get(path));
    for (const route of patterns) {
      try {
        if (matchSegments(route.segments, path)) methods.add(route.method);
      } catch {
        // not valid percent-encoding: not this route's business here
      }
    }
    return [...methods];
  };

  const listener = (raw: IncomingMessage, res: ServerResponse) => {
    let url = raw.url ?? '/';
    // absolute-form (a proxy's request line): keep the path and query
    if (!url.startsWith('/')) {
      const schemeEnd = url.indexOf('://');
      const pathStart = schemeEnd === -1 ? -1 : url.indexOf('/', schemeEnd + 3);
      url = pathStart === -1 ? '/' : url.slice(pathStart);
    }
    const queryAt = url.indexOf('?');
    const path = withoutTrailingSlash(queryAt === -1 ? url : url.slice(0, queryAt));
    const search = queryAt === -1 ? '' : url.slice(queryAt + 1);
    const method = raw.method === 'HEAD' ? 'GET' : (raw.method ?? 'GET');

    const handler = exact.get(`${method} ${path}`);
    if (handler) {
      run(handler, new RouteRequest(raw, path, search, NO_PARAMS), res);
      return;
    }
    try {
      for (const route of patterns) {
        if (route.method !== method) continue;
        const params = matchSegments(route.segments, path);
        if (params) {
          run(route.handler, new RouteRequest(raw, path, search, params), res);
          return;
        }
      }
    } catch (error) {
      answerError(res, 400, 'BAD_REQUEST', describeError(error));
      return;
    }
    const allowed = allowedAt(path);
    if (allowed.length > 0) {
      const allow = allowed.includes('GET') ? [...allowed, 'HEAD'] : allowed;
      answerError(res, 405, 'METHOD_NOT_ALLOWED', `${raw.method ?? ''} is not allowed on ${path.slice(0, 200)}: use ${allow.join(', ')}`, {
        allow: allow.join(', '),
      });
      return;
    }
    answerError(res, 404, 'NOT_FOUND', `no route for ${raw.method ?? ''} ${path.slice(0, 200)}`);
  };

  const router: Router = {
    get(path, handler) {
      add('GET', path, handler);
      return router;
    },
    post(path, handler) {
      add('POST', path, handler);
      return router;
    },
    listener,
  };
  return router;
}
