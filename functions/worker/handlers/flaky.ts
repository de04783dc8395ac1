// flaky {failures: N}: throws a retryable error on attempts 1..N, then succeeds with
// {attempts: attempt}. It relies on the attempt number the source counts, so it needs no state.
import { PermanentError, RetryableError } from '../../../shared/errors';
import { toPayloadObject, type TaskHandler } from './task-handler';

export const flaky: TaskHandler = {
  type: 'flaky',
  async run(payload, ctx) {
    const { failures } = toPayloadObject('flaky', payload);
    if (typeof failures !== 'number' || !Number.isInteger(failures) || failures < 0) {
      throw new PermanentError('flaky payload.failures must be a non-negative integer');
    }
    if (ctx.attempt <= failures) {
      throw new RetryableError(`flaky failure on attempt ${ctx.attempt} of ${failures} planned failures`);
    }
    return { attempts: ctx.attempt };
  },
};
