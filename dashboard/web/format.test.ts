// The page's pure parts: formatting, routes, query strings, error lines and the SSE parser.
import { describe, expect, it } from 'vitest';
import { clampProgress, describeApiError, formatDuration, formatTime, isTerminal, perMinute, prettyJson, stateClass, taskHref, toQueryString, toRoute, truncate } from './format';
import { createSseParser } from './sse';

describe('formatting', () => {
  it.each([
    [0, '0 ms'],
    [950, '950 ms'],
    [12_300, '12.3 s'],
    [125_000, '2 min 5 s'],
    [7_380_000, '2 h 3 min'],
    [-1, '–'],
    [Number.NaN, '–'],
  ])('formatDuration(%d) = %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('times in UTC to the millisecond, nothing for 0', () => {
    expect(formatTime(Date.UTC(2026, 11, 4, 7, 31, 5, 123))).toBe('2026-12-04 07:31:05.123');
    expect(formatTime(0)).toBe('–');
  });

  it('states: terminal or not, and their colour family', () => {
    expect(['SUCCEEDED', 'FAILED', 'CANCELLED', 'REJECTED'].every(isTerminal)).toBe(true);
    expect(isTerminal('RUNNING') || isTerminal(undefined)).toBe(false);
    expect(['SUCCEEDED', 'REJECTED', 'RETRYING', 'QUEUED'].map(stateClass)).toEqual(['state-ok', 'state-bad', 'state-live', 'state-waiting']);
    expect([-5, 42.4, 180, Number.NaN].map(clampProgress)).toEqual([0, 42, 100, 0]);
  });

  it('payloads: JSON indented, other text left as it is (shown as text either way)', () => {
    expect(prettyJson('{"a":[1,2]}')).toBe('{\n  "a": [\n    1,\n    2\n  ]\n}');
    expect(prettyJson('<b>not json</b>')).toBe('<b>not json</b>');
    expect(prettyJson('  ')).toBe('');
    expect(truncate('{"x":\n  "abcdef"}', 12)).toBe('{"x": "abcd…');
    expect(truncate('short', 12)).toBe('short');
  });

  it('query strings leave out empty filters and repeat lists', () => {
    expect(toQueryString({ state: 'FAILED', type: '', priority: undefined, pageSize: 25, ids: ['a', 'b c'] })).toBe('?state=FAILED&pageSize=25&ids=a&ids=b+c');
    expect(toQueryString({ type: '' })).toBe('');
  });

  it('error lines from the API answer, or the bare status', () => {
    expect(describeApiError(401, { error: 'UNAUTHENTICATED', message: 'the gateway wants an API key' })).toBe('UNAUTHENTICATED: the gateway wants an API key');
    expect(describeApiError(502, undefined)).toBe('HTTP 502');
    expect(perMinute(30, 60_000)).toBe('30');
    expect(perMinute(7, 30_000)).toBe('14');
    expect(perMinute(1, 0)).toBe('0');
  });

  it('routes from the location hash', () => {
    expect(toRoute('')).toEqual({ view: 'queues' });
    expect(toRoute('#/tasks')).toEqual({ view: 'tasks' });
    expect(toRoute(taskHref('a/b c'))).toEqual({ view: 'task', id: 'a/b c' });
    expect(toRoute('#/tasks/%E0%A4%A')).toEqual({ view: 'tasks' });
    expect(toRoute('#/dead-letters')).toEqual({ view: 'dead-letters' });
    expect(toRoute('#/anything')).toEqual({ view: 'queues' });
  });
});

describe('the SSE parser', () => {
  it('parses events split anywhere across chunks, skips comments, joins data lines', () => {
    const parser = createSseParser();
    expect(parser.push(': keep-alive\n\nid: 3\nevent: sta')).toEqual([]);
    expect(parser.push('tus\ndata: {"seq":3}\n')).toEqual([]);
    expect(parser.push('\nevent: end\r\ndata: a\r\ndata: b\r\n\r\n')).toEqual([
      { event: 'status', data: '{"seq":3}', id: '3' },
      { event: 'end', data: 'a\nb', id: undefined },
    ]);
    expect(parser.push('data:no-space\n\n')).toEqual([{ event: 'message', data: 'no-space', id: undefined }]);
  });
});
