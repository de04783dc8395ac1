// GET /results/:id — the stored result of a task, for the gateway's GetResult and for operators.
// 200 with the StoredResult, 404 while there is none (not finished, or expired), 400 for an id
// that cannot be a task id, 503 when Redis cannot be reached.
import { describeError, isTaskmanagerError, NotFoundError, ValidationError } from '../../shared/errors';
import type { Logger } from '../../shared/logger';
import type { Router } from '../../shared/runtime/http-router';
import type { ResultReader as StoredResultReader } from '../../shared/ports';
import type { StoredResult } from './result';

export const TASK_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

export type ResultReader = (taskId: string) => Promise<StoredResult | undefined>;

/** The route's reader over the shared one (shared/redis-stores.ts), which answers JSON text. */
export function toParsedReader(results: StoredResultReader): ResultReader {
  return async (taskId) => {
    const json = await results.read(taskId);
    return json === undefined ? undefined : (JSON.parse(json) as StoredResult);
  };
}

export type HttpAnswer = { status: number; body: unknown };

/** The answer to GET /results/:id, over an injected reader (no HTTP, no Redis). */
export async function toResultAnswer(id: string, read: ResultReader): Promise<HttpAnswer> {
  try {
    if (!TASK_ID_PATTERN.test(id)) {
      throw new ValidationError(`id must be 1 to 128 characters of A-Z, a-z, 0-9, _ or -, got "${id.slice(0, 140)}"`, { field: 'id' });
    }
    const result = await read(id);
    if (!result) throw new NotFoundError(`no result for task ${id} (not finished yet, unknown, or expired)`);
    return { status: 200, body: result };
  } catch (error) {
    if (isTaskmanagerError(error)) return { status: error.httpStatus, body: { error: error.code, message: error.message } };
    return { status: 500, body: { error: 'INTERNAL', message: describeError(error) } };
  }
}

export function registerResultRoute(router: Router, read: ResultReader, logger: Logger): void {
  router.get('/results/:id', async (req, res) => {
    const answer = await toResultAnswer(req.params.id ?? '', read);
    if (answer.status >= 500) logger.warn({ status: answer.status, body: answer.body }, 'GET /results failed');
    res.status(answer.status).json(answer.body);
  });
}
