import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { lazyChild } from './logger';

function capture(level: string) {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level }, stream), lines };
}

describe('lazyChild', () => {
  it('logs with its bindings, as a child would', async () => {
    const { logger, lines } = capture('info');
    lazyChild(logger, { taskId: 't-1' }).warn({ detail: 'x' }, 'something');
    await vi.waitFor(() => expect(lines).toHaveLength(1));
    expect(lines[0]).toMatchObject({ taskId: 't-1', detail: 'x', msg: 'something', level: 40 });
  });

  it('makes no child until something is logged, and none for a level that is off', () => {
    const { logger } = capture('info');
    const child = vi.spyOn(logger, 'child');
    const lazy = lazyChild(logger, { taskId: 't-2' });
    lazy.debug('not logged');
    expect(child).not.toHaveBeenCalled();
    lazy.info('logged');
    lazy.info('again');
    expect(child).toHaveBeenCalledTimes(1);
  });
});
