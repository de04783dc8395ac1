// The dashboard's JSON API under /api/: each route checks its input (400 naming the field), calls
// the gateway through the client library with the caller's own key, and answers JSON. The
// dashboard holds no privileges of its own: what a caller may see and do is the gateway's call
// (tenant scoping, operator tenants), passed on as 401/403. The status stream is in
// status-stream.ts.
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from '../shared/logger';
import { readBody } from '../shared/runtime/http-body';
import type { RouteHandler, RouteRequest, RouteResponse, Router } from '../shared/runtime/http-router';
import { replayEveryPage } from '../client/replay-pages';
import type { GatewayClients, GatewayPort } from './gateway-clients';
import { toHttpError } from './http-errors';
import { BadRequest, readBearerToken, toDeadLetterQuery, toJsonObject, toListTasksQuery, toReplayRequest, toSubmitInput } from './requests';

export const MAX_BODY_BYTES = 1024 * 1024;
/** How far back the throughput figure looks, and how many tasks it counts at most. */
export const THROUGHPUT_WINDOW_MS = 60_000;
const THROUGHPUT_MAX_PAGES = 5;
const AUDIT_MAX_PAGES = 10;
const REPLAY_MAX_PAGES = 100;

export type ApiDeps = {
  clients: GatewayClients;
  logger: Logger;
  now?: () => number;
  /** Wraps every route (the server: refuse new calls while draining, count the ones in flight). */
  wrap?: (handler: RouteHandler) => RouteHandler;
};

export type ApiCall = { req: RouteRequest; gateway: GatewayPort; body: () => Promise<Record<string, unknown>> };

/**
 * Browsers send Origin (and Sec-Fetch-Site) with cross-site requests: refuse them, so another
 * web page open in the same browser cannot drive a dashboard that runs without keys.
 */
export function checkSameOrigin(headers: IncomingHttpHeaders): void {
  if (headers['sec-fetch-site'] === 'cross-site') throw new BadRequest('cross-site requests are refused', 403);
  const origin = headers.origin;
  if (origin === undefined || origin === 'null') return;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    throw new BadRequest('origin: not a URL', 403);
  }
  if (host !== headers.host) throw new BadRequest(`origin ${origin} is not this dashboard`, 403);
}

async function readJsonBody(req: RouteRequest): Promise<Record<string, unknown>> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new BadRequest('content-type: expected application/json', 415);
  return toJsonObject(await readBody(req.raw, MAX_BODY_BYTES));
}

/** Wraps one API route: the same-origin check, the caller's key, the error mapping. */
export function createApiRoute(deps: ApiDeps, run: (call: ApiCall) => Promise<unknown>, status = 200) {
  return async (req: RouteRequest, res: RouteResponse): Promise<void> => {
    res.set('cache-control', 'no-store');
    try {
      checkSameOrigin(req.headers);
      const gateway = deps.clients.forKey(readBearerToken(req.headers.authorization));
      const answer = await run({ req, gateway, body: () => readJsonBody(req) });
      res.status(status).json(answer);
    } catch (error) {
      const { status: code, body } = toHttpError(error);
      if (code >= 500) deps.logger.warn({ path: req.path, status: code, err: body.message }, 'gateway call failed');
      res.status(code).json(body);
    }
  };
}

/** The caller's tasks created in the last minute, and how many of them have finished. */
export async function readThroughput(gateway: GatewayPort, now: number) {
  let submitted = 0;
  let succeeded = 0;
  let failed = 0;
  let pageToken: string | undefined;
  let pages = 0;
  do {
    const page = await gateway.listTasks({ createdAfterMs: now - THROUGHPUT_WINDOW_MS, pageSize: 1000, ...(pageToken ? { pageToken } : {}) });
    submitted += page.tasks.length;
    succeeded += page.tasks.filter((task) => task.status?.state === 'SUCCEEDED').length;
    failed += page.tasks.filter((task) => ['FAILED', 'REJECTED', 'CANCELLED'].includes(task.status?.state ?? '')).length;
    pageToken = page.nextPageToken;
    pages += 1;
  } while (pageToken && pages < THROUGHPUT_MAX_PAGES);
  return { windowMs: THROUGHPUT_WINDOW_MS, submitted, succeeded, failed, truncated: pageToken !== undefined, readAtMs: now };
}

async function readAudit(gateway: GatewayPort, taskId: string) {
  const events = [];
  let pageToken: string | undefined;
  for (let page = 0; page < AUDIT_MAX_PAGES; page += 1) {
    const result = await gateway.listAuditEvents(taskId, { pageSize: 1000, ...(pageToken ? { pageToken } : {}) });
    events.push(...result.events);
    pageToken = result.nextPageToken;
    if (!pageToken) break;
  }
  return { events, truncated: pageToken !== undefined };
}

export function addApiRoutes(router: Router, deps: ApiDeps): void {
  const wrap = deps.wrap ?? ((handler: RouteHandler) => handler);
  const route = (run: (call: ApiCall) => Promise<unknown>, status?: number) => wrap(createApiRoute(deps, run, status));
  const now = deps.now ?? Date.now;
  router.get('/api/types', route(async ({ gateway }) => ({ types: await gateway.listTaskTypes() })));
  router.get('/api/tasks', route(({ req, gateway }) => gateway.listTasks(toListTasksQuery(req.query))));
  router.post('/api/tasks', route(async ({ gateway, body }) => gateway.submit(toSubmitInput(await body())), 201));
  router.get('/api/tasks/:id', route(({ req, gateway }) => gateway.getTask(req.params.id!)));
  router.get('/api/tasks/:id/result', route(({ req, gateway }) => gateway.getResult(req.params.id!)));
  router.get('/api/tasks/:id/audit', route(({ req, gateway }) => readAudit(gateway, req.params.id!)));
  router.post('/api/tasks/:id/cancel', route(({ req, gateway }) => gateway.cancel(req.params.id!)));
  router.get('/api/throughput', route(({ gateway }) => readThroughput(gateway, now())));
  router.get('/api/queues', route(({ gateway }) => gateway.getQueueStats()));
  router.post('/api/queues/:queue/pause', route(({ req, gateway }) => gateway.pauseQueue(req.params.queue!)));
  router.post('/api/queues/:queue/resume', route(({ req, gateway }) => gateway.resumeQueue(req.params.queue!)));
  router.get('/api/dead-letters', route(({ req, gateway }) => gateway.listDeadLetters(toDeadLetterQuery(req.query))));
  router.post(
    '/api/dead-letters/replay',
    route(async ({ gateway, body }) => {
      const request = toReplayRequest(await body());
      const result = request.kind === 'all' ? await replayEveryPage((query) => gateway.replayDeadLetters({ ...query, pageSize: 1000 }), request.query, REPLAY_MAX_PAGES) : await gateway.replayDeadLetters(request.query);
      return { ...result, nextPageToken: undefined };
    }),
  );
}
