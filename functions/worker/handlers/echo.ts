// echo: returns its payload unchanged (any JSON value).
import type { TaskHandler } from './task-handler';

export const echo: TaskHandler = {
  type: 'echo',
  async run(payload) {
    return payload;
  },
};
