import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { getFreePort, waitFor } from '../test/helpers/ports';
import { FLOOR_NAME, toFloorSpec } from './cold-start';
import { NODE_V8_FLAGS } from '../shared/topology';

describe('the cold start floor', () => {
  const children: ReturnType<typeof spawn>[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
  });

  it("runs node with the function's node arguments and environment, no bundle, and answers the readiness probe", async () => {
    const port = await getFreePort();
    const fn = { name: 'notifier', args: [...NODE_V8_FLAGS, '--require', '/dist/telemetry.cjs', '/dist/functions/notifier.cjs'], env: { NODE_OPTIONS: '--max-semi-space-size=2', PORT: '1' } };
    const spec = toFloorSpec(fn, port);
    expect(spec.name).toBe(FLOOR_NAME);
    expect(spec.args.some((arg) => arg.includes('dist/'))).toBe(false);
    expect(spec.args.slice(0, NODE_V8_FLAGS.length)).toEqual(NODE_V8_FLAGS);
    expect(spec.env).toEqual({ NODE_OPTIONS: '--max-semi-space-size=2', PORT: String(port) });

    const child = spawn(process.execPath, spec.args, { env: { ...process.env, ...spec.env }, stdio: 'ignore' });
    children.push(child);
    const status = await waitFor(
      'node-floor to answer the readiness probe',
      () =>
        fetch(`http://127.0.0.1:${port}/health/readiness`).then(
          (response) => (response.status === 200 ? response.status : undefined),
          () => undefined,
        ),
      10_000,
    );
    expect(status).toBe(200);
  });
});
