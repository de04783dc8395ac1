// Fault scenarios 9, 10, 12, 13, 14 and 15 on one process stack (the bundles under the
// supervisor, its own nats-server and redis-server): a stack takes long to start on two cores, so
// the scenarios that can share one do, each with its own tasks and its own invariant check.
// The order matters only at the end: 15 stops every process and starts them again.
// Burst (scenario 11) has a stack of its own: burst.int.test.ts.
import { afterAll, beforeAll } from 'vitest';
import { createTaskManagerClient, type TaskManagerClient } from '../../client/client';
import { startTestStack, type TestStack } from '../helpers/stack';
import type { FaultContext } from './context';
import { describeDisconnects } from './disconnects';
import { describeDuplicates } from './duplicates';
import { BACKLOG_RESERVE_PERCENT, describeFullStream } from './full-stream';
import { describePoison } from './poison';
import { describeSigterm } from './sigterm';
import { describeStatusOrder } from './status-order';

let stack: TestStack | undefined;
let client: TaskManagerClient | undefined;

beforeAll(async () => {
  stack = await startTestStack({
    env: {
      // Scenario 15: each process's own grace period, well inside the supervisor's (SIGKILL after).
      TM_SHUTDOWN_GRACE_MS: '5000',
    },
    processEnv: {
      // Scenario 12: SubmitTask keeps half of the TASKS stream for the stages.
      gateway: { TM_BACKLOG_RESERVE_PERCENT: String(BACKLOG_RESERVE_PERCENT) },
      // Scenarios 12 and 14 freeze the worker or its source: a delivery waits instead of timing out.
      'worker-source': { TM_SOURCE_REQUEST_TIMEOUT_MS: '300000' },
    },
  });
  client = createTaskManagerClient({ address: stack.gatewayAddress });
}, 180_000);

afterAll(async () => {
  client?.close();
  await stack?.stop();
}, 60_000);

const context = (): FaultContext => {
  if (!stack || !client) throw new Error('the shared stack did not start');
  return { stack, client };
};

describeStatusOrder(context);
describePoison(context);
describeDuplicates(context);
describeDisconnects(context);
describeFullStream(context);
describeSigterm(context);
