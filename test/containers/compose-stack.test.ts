// Compose for real: the project image built with the real Dockerfile, and the stack brought up
// with the real docker-compose.yml on this machine's Docker engine, driven through the gateway's
// port published on 127.0.0.1. The services whose images no registry gives here (Envoy, the
// observability stack, the Python example handler) are left out by naming the services to start.
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskManagerClient, type StatusUpdate, type TaskManagerClient } from '../../client/client';
import { getFreePort } from '../helpers/ports';
import { mixedWorkload } from '../helpers/mixed-workload';
import { APP_IMAGE, isAppService, loadCompose } from '../deploy/compose-drift';
import { LOCAL_IMAGES } from './base-images';
import { createCompose, type Compose } from './compose';
import { run } from './docker-host';

/** What the image adds on top of its Node base: bundles, pruned node_modules, compile cache. */
const APP_LAYERS_BUDGET_MB = 60;

const composeFile = loadCompose(resolve('docker-compose.yml'));
/** The application containers (our image) and the NATS and Redis they need. */
const SERVICES = ['nats', 'redis', ...Object.entries(composeFile.services).filter(([, s]) => isAppService(s)).map(([name]) => name)];

function megabytes(bytes: number): number {
  return Math.round(bytes / 1_000_000);
}

async function imageSize(tag: string): Promise<number> {
  return Number((await run('docker', ['image', 'inspect', '-f', '{{.Size}}', tag])).trim());
}

describe('the image built with the real Dockerfile on the local Node 24 base', () => {
  it('builds, runs as the non-root node user, and adds at most 60 MB to its base', async () => {
    const started = Date.now();
    await run('docker', ['build', '--build-arg', `NODE_IMAGE=${LOCAL_IMAGES.node}`, '-t', APP_IMAGE, '.']);
    const [size, base] = [await imageSize(APP_IMAGE), await imageSize(LOCAL_IMAGES.node)];
    console.log(`image: built in ${((Date.now() - started) / 1000).toFixed(0)} s; ${megabytes(size)} MB, of which its base ${megabytes(base)} MB`);

    expect((await run('docker', ['image', 'inspect', '-f', '{{.Config.User}}', APP_IMAGE])).trim()).toBe('node');
    const identity = await run('docker', ['run', '--rm', APP_IMAGE, 'id']);
    expect(identity).toMatch(/^uid=1000\(node\) gid=1000\(node\)/);
    expect(await run('docker', ['run', '--rm', APP_IMAGE, 'node', '--version'])).toMatch(/^v24\./);
    expect(megabytes(size - base)).toBeLessThanOrEqual(APP_LAYERS_BUDGET_MB);
  });
});

describe('the stack from docker-compose.yml', () => {
  let compose: Compose;
  let client: TaskManagerClient;

  beforeAll(async () => {
    const gatewayPort = await getFreePort();
    compose = createCompose('taskmanager-test', {
      NODE_IMAGE: LOCAL_IMAGES.node,
      NATS_IMAGE: LOCAL_IMAGES.nats,
      REDIS_IMAGE: LOCAL_IMAGES.redis,
      TM_GATEWAY_HOST_PORT: String(gatewayPort),
    });
    // Whatever an earlier, interrupted run left.
    await compose.run(['down', '-v', '--remove-orphans']);
    const started = Date.now();
    // As users run it: `up --build` builds the setup service's image from the Dockerfile with
    // NODE_IMAGE (from the layer cache of the build above), and the other services use it.
    await compose.run(['up', '-d', '--build', ...SERVICES]);
    await compose.waitReady(SERVICES, ['setup'], 600_000);
    console.log(`compose: ${SERVICES.length} services up and healthy ${((Date.now() - started) / 1000).toFixed(0)} s after \`up\``);
    client = createTaskManagerClient({ address: `127.0.0.1:${gatewayPort}` });
  });

  afterAll(async () => {
    client?.close();
    // Cleans up even when a test failed; the last test checks what this leaves.
    await compose?.run(['down', '-v', '--remove-orphans']);
  });

  it('200 mixed tasks submitted through the published gateway port end in their right states with the right outputs', async () => {
    const workload = mixedWorkload(200);
    const ids = await Promise.all(workload.map((task) => client.submit({ type: task.type, payload: task.payload }).then((r) => r.taskId)));
    expect(new Set(ids).size).toBe(200);
    const results = await Promise.all(ids.map((id) => client.waitForResult(id)));
    workload.forEach((expected, index) => {
      const result = results[index]!;
      const context = `${expected.type} ${JSON.stringify(expected.payload)} (${ids[index]}): ${result.error ?? ''}`;
      expect(result.state, context).toBe(expected.state);
      if (expected.output !== undefined) expect(result.output, context).toEqual(expected.output);
      if (expected.runs > 0) expect(result.attempts, context).toBe(expected.runs);
      if (expected.type === 'fail') expect(result.error, context).toContain('boom');
      if (expected.type === 'no-such-type') expect(result.error, context).toMatch(/unknown task type "no-such-type"/);
    });
  });

  it('when the worker container is killed mid-task, the task still ends SUCCEEDED once compose starts it again', async () => {
    const { taskId } = await client.submit({ type: 'sleep', payload: { ms: 4_000 } });
    const running = await waitForState(client, taskId, 'RUNNING');
    expect(running.attempt).toBe(1);
    const before = await compose.state('worker');
    await run('docker', ['kill', before!.id]);
    expect((await compose.state('worker'))?.status).toBe('exited');
    // Docker does not restart a container that `docker kill` stopped, whatever its policy.
    await compose.run(['up', '-d', '--no-build', 'worker']);
    await compose.waitReady(['worker'], [], 120_000);

    const result = await client.waitForResult(taskId);
    expect(result.state).toBe('SUCCEEDED');
    expect(result.output).toEqual({ slept: 4_000 });
    // Run again after the kill; deliveries that found the worker down while it was gone count
    // as attempts too, so how many depends on how long it took to come back.
    expect(result.attempts).toBeGreaterThan(running.attempt);
  });

  it('`down -v` leaves no container, network or volume of the project behind', async () => {
    expect((await compose.resources()).containers.length).toBeGreaterThan(0);
    await compose.run(['down', '-v', '--remove-orphans']);
    expect(await compose.resources()).toEqual({ containers: [], networks: [], volumes: [] });
    // vfs deletes a full image copy per container: 74–142 s measured, more under load.
  }, 600_000);
});

/** Follows the task's status until it reaches `state`. */
async function waitForState(client: TaskManagerClient, taskId: string, state: string): Promise<StatusUpdate> {
  for await (const update of client.watch(taskId)) if (update.state === state) return update;
  throw new Error(`task ${taskId} ended without reaching ${state}`);
}
