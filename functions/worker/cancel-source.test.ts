import { describe, expect, it, vi } from 'vitest';
import { createCancelRegistry } from './cancel-source';

describe('cancel registry', () => {
  it('calls the watchers of the cancelled task only, until they stop watching', () => {
    const registry = createCancelRegistry();
    const first = vi.fn();
    const other = vi.fn();
    const stop = registry.watch('t-1', first);
    registry.watch('t-2', other);
    registry.cancel('t-1');
    expect(first).toHaveBeenCalledTimes(1);
    expect(other).not.toHaveBeenCalled();
    stop();
    registry.cancel('t-1');
    expect(first).toHaveBeenCalledTimes(1);
    expect(registry.watching()).toBe(1);
  });
});
