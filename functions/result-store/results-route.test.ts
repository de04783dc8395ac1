import { describe, expect, it, vi } from 'vitest';
import { DependencyUnavailableError } from '../../shared/errors';
import type { StoredResult } from './result';
import { toResultAnswer, type ResultReader } from './results-route';

const RESULT: StoredResult = {
  taskId: 'abc_DEF-123',
  state: 'SUCCEEDED',
  output: '{"slept":5}',
  error: '',
  attempts: 1,
  startedAtMs: 1,
  finishedAtMs: 2,
};

describe('GET /results/:id', () => {
  it('200 with the stored result', async () => {
    const read = vi.fn<ResultReader>(async () => RESULT);
    expect(await toResultAnswer('abc_DEF-123', read)).toEqual({ status: 200, body: RESULT });
    expect(read).toHaveBeenCalledWith('abc_DEF-123');
  });

  it('404 NOT_FOUND while there is no result', async () => {
    const answer = await toResultAnswer('t-1', async () => undefined);
    expect(answer).toMatchObject({ status: 404, body: { error: 'NOT_FOUND', message: expect.stringContaining('t-1') } });
  });

  it('400 naming id for an id that cannot be a task id, without reading', async () => {
    const read = vi.fn<ResultReader>(async () => RESULT);
    for (const id of ['', 'a b', 'x'.repeat(129), 'task:1', '../etc']) {
      const answer = await toResultAnswer(id, read);
      expect(answer.status).toBe(400);
      expect((answer.body as { message: string }).message).toMatch(/^id must be/);
    }
    expect(read).not.toHaveBeenCalled();
  });

  it('503 when Redis is unavailable', async () => {
    const answer = await toResultAnswer('t-1', async () => Promise.reject(new DependencyUnavailableError('redis down')));
    expect(answer).toMatchObject({ status: 503, body: { error: 'DEPENDENCY_UNAVAILABLE' } });
  });
});
