import { describe, expect, it, vi } from 'vitest';
import { createLogger, interpolate, lazyChild } from './logger';

function capture(level: string, component = 'worker') {
  const raw: string[] = [];
  const logger = createLogger(component, level, { write: (line) => raw.push(line) });
  const lines = () => raw.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, raw, lines };
}

describe('createLogger', () => {
  it("writes one JSON line per call in pino's shape: level number, ISO time, component, fields, msg", () => {
    const { logger, raw, lines } = capture('info');
    logger.warn({ taskId: 't-1', attempt: 2 }, 'task failed');
    expect(raw).toHaveLength(1);
    expect(raw[0]!.endsWith('}\n')).toBe(true);
    expect(Object.keys(lines()[0]!)).toEqual(['level', 'time', 'component', 'taskId', 'attempt', 'msg']);
    expect(lines()[0]).toMatchObject({ level: 40, component: 'worker', taskId: 't-1', attempt: 2, msg: 'task failed' });
    expect(new Date(lines()[0]!.time as string).toISOString()).toBe(lines()[0]!.time);
  });

  it('leaves out the levels below its own, and everything when silent', () => {
    const { logger, lines } = capture('warn');
    logger.info('no');
    logger.debug({ a: 1 }, 'no');
    logger.error('yes');
    expect(lines().map((line) => line.level)).toEqual([50]);
    expect(logger.isLevelEnabled('warn')).toBe(true);
    expect(logger.isLevelEnabled('info')).toBe(false);

    const silent = capture('silent');
    silent.logger.fatal('no');
    expect(silent.raw).toEqual([]);
  });

  it('refuses an unknown level, naming the setting and the choices', () => {
    expect(() => createLogger('worker', 'verbose')).toThrow(/unknown log level "verbose" \(LOG_LEVEL\): use one of fatal, error, warn, info, debug, trace, silent/);
  });

  it("carries a child's bindings on its lines, and the parent stays as it was", () => {
    const { logger, lines } = capture('info');
    const child = logger.child({ eventId: 'e-1' }).child({ taskId: 't-9' });
    child.info('from the child');
    logger.info('from the parent');
    expect(lines()[0]).toMatchObject({ component: 'worker', eventId: 'e-1', taskId: 't-9', msg: 'from the child' });
    expect(lines()[1]).not.toHaveProperty('eventId');
  });

  it('keeps an error’s type, message and stack under err, given alone or as a field', () => {
    const { logger, lines } = capture('info');
    const error = Object.assign(new TypeError('bad input'), { code: 'E_BAD' });
    logger.error(error);
    logger.warn({ err: error, attempt: 1 }, 'failed: %s', 'retrying');
    const [alone, field] = lines();
    expect(alone).toMatchObject({ msg: 'bad input', err: { type: 'TypeError', message: 'bad input', code: 'E_BAD' } });
    expect((alone!.err as { stack: string }).stack).toContain('bad input');
    expect(field).toMatchObject({ attempt: 1, msg: 'failed: retrying', err: { type: 'TypeError', message: 'bad input' } });
  });

  it('writes a line even for fields JSON refuses: a cycle, a BigInt', () => {
    const { logger, lines } = capture('info');
    const cyclic: Record<string, unknown> = { name: 'a' };
    cyclic.self = cyclic;
    logger.info({ cyclic, big: 10n }, 'odd fields');
    expect(lines()[0]).toMatchObject({ cyclic: { name: 'a', self: '[Circular]' }, big: '10', msg: 'odd fields' });
  });

  it('escapes what would break the line: quotes, newlines', () => {
    const { logger, raw, lines } = capture('info');
    logger.info({ detail: 'a\n"b"' }, 'first\nsecond');
    expect(raw[0]!.split('\n')).toHaveLength(2);
    expect(lines()[0]).toMatchObject({ detail: 'a\n"b"', msg: 'first\nsecond' });
  });
});

describe('interpolate', () => {
  it('fills the placeholders in order as pino does, and drops arguments without one', () => {
    expect(interpolate('%s took %d ms (%j) 100%%', ['worker', '12', { a: 1 }])).toBe('worker took 12 ms ({"a":1}) 100%');
    expect(interpolate('nats connection %s', ['reconnect', 'extra'])).toBe('nats connection reconnect');
    expect(interpolate('%s and %s', ['one'])).toBe('one and %s');
    expect(interpolate('%i of %o', [3.7, [1]])).toBe('3 of [1]');
  });
});

describe('lazyChild', () => {
  it('logs with its bindings, as a child would', () => {
    const { logger, lines } = capture('info');
    lazyChild(logger, { taskId: 't-1' }).warn({ detail: 'x' }, 'something');
    expect(lines()).toHaveLength(1);
    expect(lines()[0]).toMatchObject({ taskId: 't-1', detail: 'x', msg: 'something', level: 40 });
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
