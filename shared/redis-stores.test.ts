import { describe, expect, it } from 'vitest';
import { DependencyUnavailableError, ValidationError } from './errors';
import { guarded } from './redis-stores';

describe('guarded', () => {
  it('answers what the call answers', async () => {
    await expect(guarded(() => 'reading', async () => 7)).resolves.toBe(7);
  });

  it('turns a client failure into a retryable DependencyUnavailableError saying what was being done', async () => {
    const cause = new Error("Stream isn't writeable and enableOfflineQueue options is false");
    const error = await guarded(() => 'applying RUNNING to task t-1', async () => Promise.reject(cause)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as DependencyUnavailableError).retryable).toBe(true);
    expect((error as DependencyUnavailableError).httpStatus).toBe(503);
    expect((error as Error).message).toBe(`redis unavailable while applying RUNNING to task t-1: ${cause.message}`);
    expect((error as Error).cause).toBe(cause);
  });

  it('lets our own typed errors through unchanged', async () => {
    const refusal = new ValidationError('bad', { field: 'data' });
    await expect(guarded(() => 'x', async () => Promise.reject(refusal))).rejects.toBe(refusal);
  });
});
