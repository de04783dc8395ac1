// fail {message}: always throws a retryable error, so it exercises every retry and the final
// dead letter.
import { RetryableError } from '../../../shared/errors';
import { toPayloadObject, type TaskHandler } from './task-handler';

export const DEFAULT_FAIL_MESSAGE = 'task failed on purpose';

export const fail: TaskHandler = {
  type: 'fail',
  async run(payload) {
    const { message } = toPayloadObject('fail', payload);
    throw new RetryableError(typeof message === 'string' && message !== '' ? message : DEFAULT_FAIL_MESSAGE);
  },
};
