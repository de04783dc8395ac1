import { describe, expect, it, vi } from 'vitest';
import type { DeadLetterIndex } from '../shared/dead-letters';
import { ValidationError } from '../shared/errors';
import { replayDeadLetters, replayIdempotencyKey } from './replay-dead-letters';
import type { ServiceContext } from './service';

/** Only what a refused request may reach: the dead-letter index (which it must not). */
function contextWith(index: DeadLetterIndex): ServiceContext {
  return { deps: { stores: { deadLetters: index } }, emitter: {} } as unknown as ServiceContext;
}

function untouchedIndex() {
  const index = { list: vi.fn(), read: vi.fn(), markReplayed: vi.fn() };
  return { index, context: contextWith(index as unknown as DeadLetterIndex) };
}

async function refusal(request: Parameters<typeof replayDeadLetters>[1]): Promise<ValidationError> {
  const { index, context } = untouchedIndex();
  const error = await replayDeadLetters(context, request, { tenant: 'acme' }).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(index.read).not.toHaveBeenCalled();
  expect(index.list).not.toHaveBeenCalled();
  expect(error).toBeInstanceOf(ValidationError);
  return error as ValidationError;
}

describe('ReplayDeadLetters requests', () => {
  it('refuses ids that are not dead-letter ids, naming the field, before reading anything', async () => {
    expect((await refusal({ ids: ['ok', 'has space'] })).message).toMatch(/^ids: "has space" is not a dead-letter id/);
    expect((await refusal({ ids: [''] })).message).toMatch(/^ids: "" is not a dead-letter id/);
    expect((await refusal({ ids: Array.from({ length: 1001 }, (_v, i) => `d${i}`) })).message).toBe('ids: at most 1000 per call, got 1001');
  });

  it('refuses ids together with filters, and bad filters', async () => {
    expect((await refusal({ ids: ['d1'], type: 'fail' })).message).toMatch(/^ids: give ids or filters/);
    expect((await refusal({ stage: 'no spaces please' })).message).toMatch(/^stage:/);
    expect((await refusal({ page_size: 1001 })).message).toMatch(/^page_size:/);
    expect((await refusal({ page_token: 'garbage' })).message).toMatch(/^page_token:/);
  });

  it('keys a replay by its dead letter, apart from any key a client would choose', () => {
    expect(replayIdempotencyKey('t-1:deadletter:worker')).toBe('dead-letter-replay:t-1:deadletter:worker');
  });
});
