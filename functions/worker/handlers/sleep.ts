// sleep {ms}: waits ms milliseconds in ten steps, reporting progress after each, and stops at
// once when the signal fires (timeout or cancel). Returns {slept: ms}.
import { PermanentError } from '../../../shared/errors';
import { delay, toPayloadObject, type TaskHandler } from './task-handler';

const STEPS = 10;

export const sleep: TaskHandler = {
  type: 'sleep',
  async run(payload, ctx) {
    const { ms } = toPayloadObject('sleep', payload);
    if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 0) {
      throw new PermanentError('sleep payload.ms must be a non-negative integer');
    }
    const startedAt = Date.now();
    for (let step = 1; step <= STEPS; step += 1) {
      // Aim each step at its point on the schedule, so time spent reporting does not add up.
      const target = Math.round((ms * step) / STEPS);
      await delay(Math.max(target - (Date.now() - startedAt), 0), ctx.signal);
      await ctx.reportProgress((step * 100) / STEPS);
    }
    return { slept: ms };
  },
};
