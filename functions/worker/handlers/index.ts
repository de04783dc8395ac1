// The worker's handler registry: one file per task type. Adding a type = a file here, an entry
// below and its schema in shared/task-types.ts (handlers.test.ts checks that the two agree).
import { echo } from './echo';
import { fail } from './fail';
import { flaky } from './flaky';
import { hash } from './hash';
import { sleep } from './sleep';
import type { TaskHandler } from './task-handler';

export type { TaskHandler, TaskRunContext } from './task-handler';

export const HANDLERS: readonly TaskHandler[] = [echo, sleep, hash, fail, flaky];
