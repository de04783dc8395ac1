// hash {data}: returns the sha256 of data (UTF-8) as lowercase hex.
import { createHash } from '../../../shared/lazy-crypto';
import { PermanentError } from '../../../shared/errors';
import { toPayloadObject, type TaskHandler } from './task-handler';

export const hash: TaskHandler = {
  type: 'hash',
  async run(payload) {
    const { data } = toPayloadObject('hash', payload);
    if (typeof data !== 'string') throw new PermanentError('hash payload.data must be a string');
    return createHash('sha256').update(data, 'utf8').digest('hex');
  },
};
