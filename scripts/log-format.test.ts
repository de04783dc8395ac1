// The local runner's log lines: readable on a terminal, the processes' own JSON otherwise.
import { describe, expect, it } from 'vitest';
import { chooseLogFormat, formatLogLine } from './log-format';

const PLAIN = { pretty: true, color: false } as const;
const COLOUR = { pretty: true, color: true } as const;
const JSON_LINES = { pretty: false, color: false } as const;

/** An ISO time whose local clock reads 03:04:05.006, whatever the time zone of the machine. */
const TIME = new Date(2026, 0, 2, 3, 4, 5, 6).toISOString();
const pinoLine = (fields: Record<string, unknown>) =>
  JSON.stringify({ level: 30, time: TIME, pid: 4242, hostname: 'box', component: 'worker', msg: 'task done', ...fields });

describe('chooseLogFormat', () => {
  it.each([
    { isTTY: true, env: {}, expected: { pretty: true, color: true } },
    { isTTY: false, env: {}, expected: { pretty: false, color: false } },
    { isTTY: true, env: { LOG_FORMAT: 'json' }, expected: { pretty: false, color: false } },
    { isTTY: false, env: { LOG_FORMAT: 'pretty' }, expected: { pretty: true, color: false } },
    { isTTY: true, env: { NO_COLOR: '1' }, expected: { pretty: true, color: false } },
    { isTTY: true, env: { NO_COLOR: '' }, expected: { pretty: true, color: true } },
    { isTTY: true, env: { LOG_FORMAT: ' JSON ' }, expected: { pretty: false, color: false } },
  ])('on a terminal: $isTTY, with $env: $expected', ({ isTTY, env, expected }) => {
    expect(chooseLogFormat(isTTY, env)).toEqual(expected);
  });

  it('refuses an unknown LOG_FORMAT, naming the choices', () => {
    expect(() => chooseLogFormat(true, { LOG_FORMAT: 'yaml' })).toThrow('LOG_FORMAT must be one of json, pretty (or unset), got "yaml"');
  });
});

describe('formatLogLine', () => {
  it('keeps the JSON line as the process wrote it, prefixed, when not pretty', () => {
    const line = pinoLine({ taskId: 't1' });
    expect(formatLogLine('worker', line, JSON_LINES)).toBe(`[worker] ${line}`);
  });

  it('turns a pino line into time, level, process name, message and its fields, task id first and error last', () => {
    const line = pinoLine({ level: 50, err: 'redis is down', eventId: 'e-1', attempt: 2, taskId: 't1', msg: 'delivery failed' });
    expect(formatLogLine('worker-source', line, PLAIN)).toBe(
      '03:04:05.006 ERROR [worker-source] delivery failed taskId=t1 eventId=e-1 attempt=2 err="redis is down"',
    );
  });

  it('hides the fields pino adds to every line and the component the process name already says', () => {
    expect(formatLogLine('gateway', pinoLine({}), PLAIN)).toBe('03:04:05.006 INFO  [gateway] task done');
  });

  it('writes nested values as compact JSON and a serialized Error as its message and code', () => {
    const line = pinoLine({
      level: 40,
      consumers: ['worker-high', 'worker-low'],
      err: { type: 'Error', message: 'connect ECONNREFUSED', code: 'ECONNREFUSED', stack: 'Error: connect…\n    at …' },
    });
    expect(formatLogLine('worker-source', line, PLAIN)).toBe(
      '03:04:05.006 WARN  [worker-source] task done consumers=["worker-high","worker-low"] err="connect ECONNREFUSED (ECONNREFUSED)"',
    );
  });

  it('stays on one line when the message or a field holds a line break', () => {
    const formatted = formatLogLine('audit', pinoLine({ msg: 'first\nsecond', detail: 'a\nb' }), PLAIN);
    expect(formatted).toBe('03:04:05.006 INFO  [audit] first\\nsecond detail="a\\nb"');
    expect(formatted).not.toContain('\n');
  });

  it('colours the level and the component, and the error in the colour of its level', () => {
    const formatted = formatLogLine('worker', pinoLine({ level: 50, err: 'boom' }), COLOUR);
    expect(formatted).toBe(
      '03:04:05.006 \u001b[31mERROR\u001b[0m \u001b[1m[worker]\u001b[0m task done \u001b[31merr=boom\u001b[0m',
    );
    expect(formatLogLine('worker', pinoLine({}), COLOUR)).toContain('\u001b[32mINFO \u001b[0m');
  });

  it.each([
    ['a line that is not JSON', 'gateway failed to start: HOST must be an IP address'],
    ['JSON that is not a pino line', '{"hello":"world"}'],
    ['a broken JSON line', '{"level":30,'],
  ])('passes %s through, prefixed', (_, line) => {
    expect(formatLogLine('gateway', line, PLAIN)).toBe(`[gateway] ${line}`);
    expect(formatLogLine('gateway', line, COLOUR)).toBe(`\u001b[1m[gateway]\u001b[0m ${line}`);
  });

  it('names a level pino does not define by its number and leaves out a time it cannot read', () => {
    expect(formatLogLine('ingest', JSON.stringify({ level: 35, time: 'soon', msg: 'odd' }), PLAIN)).toBe('L35   [ingest] odd');
  });
});
