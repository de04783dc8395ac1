import { describe, expect, it } from 'vitest';
import { BacklogFullError } from '../shared/errors';
import { createLogger } from '../shared/logger';
import { createBacklogGuard, findBacklogProblem, type StreamFill } from './backlog';

const logger = createLogger('backlog-test', 'silent');
const fill = (messages: number, bytes = 0): StreamFill => ({ messages, bytes, maxMsgs: 40, maxBytes: 1_000 });

describe('findBacklogProblem', () => {
  it('leaves the reserve of MaxMsgs to the stages', () => {
    expect(findBacklogProblem(fill(19), 50)).toBeUndefined();
    expect(findBacklogProblem(fill(20), 50)).toMatch(/holds 20 messages of its limit of 40, and the last 20 are kept/);
  });

  it('leaves the reserve of MaxBytes to the stages', () => {
    expect(findBacklogProblem(fill(0, 899), 10)).toBeUndefined();
    expect(findBacklogProblem(fill(0, 900), 10)).toMatch(/900 bytes of its limit of 1000/);
  });

  it('a reserve of 0 refuses only a full stream; limits of 0 or less are unlimited', () => {
    expect(findBacklogProblem(fill(39), 0)).toBeUndefined();
    expect(findBacklogProblem(fill(40), 0)).toMatch(/40 messages/);
    expect(findBacklogProblem({ messages: 10 ** 9, bytes: 10 ** 12, maxMsgs: -1, maxBytes: 0 }, 50)).toBeUndefined();
  });

  it('rounds the reserve up, so a tiny stream still keeps one message', () => {
    expect(findBacklogProblem({ ...fill(19), maxMsgs: 20 }, 1)).toMatch(/last 1 are kept/);
  });
});

describe('createBacklogGuard', () => {
  it('reads the fill level at most once per maxAgeMs, and refuses with BacklogFullError', async () => {
    let now = 0;
    let reads = 0;
    let messages = 5;
    const guard = createBacklogGuard({
      readFill: async () => {
        reads += 1;
        return fill(messages);
      },
      reservePercent: 50,
      maxAgeMs: 100,
      now: () => now,
      logger,
    });
    await guard.assertRoom();
    messages = 30;
    await guard.assertRoom();
    expect(reads).toBe(1);
    now = 100;
    await expect(guard.assertRoom()).rejects.toBeInstanceOf(BacklogFullError);
    expect(reads).toBe(2);
  });

  it('concurrent calls share one read', async () => {
    let reads = 0;
    const guard = createBacklogGuard({
      readFill: async () => {
        reads += 1;
        await new Promise((resolve) => setTimeout(resolve, 10));
        return fill(1);
      },
      reservePercent: 50,
      maxAgeMs: 100,
      now: () => 0,
      logger,
    });
    await Promise.all([guard.assertRoom(), guard.assertRoom(), guard.assertRoom()]);
    expect(reads).toBe(1);
  });

  it('lets calls through when the fill level cannot be read (the publish still decides)', async () => {
    const guard = createBacklogGuard({
      readFill: async () => {
        throw new Error('no responders');
      },
      reservePercent: 50,
      maxAgeMs: 100,
      now: () => 0,
      logger,
    });
    await expect(guard.assertRoom()).resolves.toBeUndefined();
  });
});
