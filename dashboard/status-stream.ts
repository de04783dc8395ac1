// GET /api/tasks/:id/events: a task's status as Server-Sent Events, fed by the client library's
// watch() (StreamStatus, which resumes by itself after a broken gateway stream). One `status`
// event per update (`id:` = its seq, so a browser that reconnects asks for ?afterSeq=<last id>),
// then `end` after the terminal state, or `error` with the gateway's code and message. A comment
// line every 15 s keeps proxies from closing a quiet stream. The browser reads it with fetch (an
// EventSource cannot send the Authorization header).
import type { Logger } from '../shared/logger';
import type { RouteRequest, RouteResponse } from '../shared/runtime/http-router';
import type { StatusUpdate } from '../client/types';
import type { GatewayClients } from './gateway-clients';
import { checkSameOrigin } from './api';
import { toHttpError } from './http-errors';
import { readBearerToken, toAfterSeq } from './requests';

export const HEARTBEAT_MS = 15_000;

/** One SSE event: `event:` and `id:` lines, the data as one JSON line. */
export function toSseEvent(event: string, data: unknown, id?: number): string {
  return `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export type StatusStreamDeps = {
  clients: GatewayClients;
  logger: Logger;
  heartbeatMs?: number;
  /** The open streams and when each has ended: the server ends them when it stops (the browser
   *  reconnects, to another replica). */
  open: Map<AbortController, Promise<void>>;
};

export function createStatusStreamRoute(deps: StatusStreamDeps) {
  return async (req: RouteRequest, res: RouteResponse): Promise<void> => {
    let afterSeq: number | undefined;
    let gateway;
    try {
      checkSameOrigin(req.headers);
      afterSeq = toAfterSeq(req.query);
      gateway = deps.clients.forKey(readBearerToken(req.headers.authorization));
    } catch (error) {
      const { status, body } = toHttpError(error);
      res.status(status).set('cache-control', 'no-store').json(body);
      return;
    }
    const raw = res.raw;
    const abort = new AbortController();
    raw.on('close', () => abort.abort());
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    raw.flushHeaders();
    const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), deps.heartbeatMs ?? HEARTBEAT_MS);
    const follow = async () => {
      try {
        let last: StatusUpdate | undefined;
        for await (const update of gateway.watch(req.params.id!, { afterSeq, signal: abort.signal })) {
          last = update;
          raw.write(toSseEvent('status', update, update.seq));
        }
        if (!abort.signal.aborted) raw.write(toSseEvent('end', { state: last?.state ?? '' }));
      } catch (error) {
        if (!abort.signal.aborted) {
          const { status, body } = toHttpError(error);
          if (status >= 500) deps.logger.warn({ path: req.path, status, err: body.message }, 'status stream failed');
          raw.write(toSseEvent('error', { status, ...body }));
        }
      } finally {
        clearInterval(heartbeat);
        raw.end();
      }
    };
    const done = follow();
    deps.open.set(abort, done);
    await done;
    deps.open.delete(abort);
  };
}
