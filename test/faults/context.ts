// What the scenarios that share one process stack (shared-stack.int.test.ts) are given: the
// stack and a typed client, read when a test runs (the stack starts in beforeAll).
import type { TaskManagerClient } from '../../client/client';
import type { TestStack } from '../helpers/stack';

export type FaultContext = { stack: TestStack; client: TaskManagerClient };

/** Registers one scenario's describe block. */
export type FaultScenario = (context: () => FaultContext) => void;
