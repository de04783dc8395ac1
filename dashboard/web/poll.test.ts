import { describe, expect, it } from 'vitest';
import { latestOnly } from './poll';

/** A load whose answers the test releases one by one, in any order. */
function controlledLoads() {
  const pending: { value: string; release: () => void }[] = [];
  let calls = 0;
  const load = () => {
    calls += 1;
    const value = `answer ${calls}`;
    return new Promise<string>((resolve) => pending.push({ value, release: () => resolve(value) }));
  };
  return { load, pending };
}

describe('latestOnly', () => {
  it('draws the newest call\'s answer and drops an older one that arrives after it', async () => {
    const { load, pending } = controlledLoads();
    const drawn: string[] = [];
    const refresh = latestOnly(load, (value) => drawn.push(value));
    const first = refresh();
    const second = refresh();
    pending[1]!.release();
    await second;
    pending[0]!.release();
    await first;
    expect(drawn).toEqual(['answer 2']);
  });

  it('draws every answer of calls that do not overlap', async () => {
    const { load, pending } = controlledLoads();
    const drawn: string[] = [];
    const refresh = latestOnly(load, (value) => drawn.push(value));
    for (let i = 0; i < 3; i += 1) {
      const call = refresh();
      pending[i]!.release();
      await call;
    }
    expect(drawn).toEqual(['answer 1', 'answer 2', 'answer 3']);
  });
});
