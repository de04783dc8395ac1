import { describe, expect, it } from 'vitest';
import { shape, withPrefix } from './redis-commands';

describe('withPrefix', () => {
  it('prefixes the first key, every key, or a script\'s KEYS, and nothing else', () => {
    expect(withPrefix('tm:', 'hset', ['task:1', 'f', 'v'])).toEqual(['tm:task:1', 'f', 'v']);
    expect(withPrefix('tm:', 'mget', ['a', 'b'])).toEqual(['tm:a', 'tm:b']);
    expect(withPrefix('tm:', 'evalsha', ['sha', 2, 'k1', 'k2', 'arg'])).toEqual(['sha', 2, 'tm:k1', 'tm:k2', 'arg']);
    expect(withPrefix('tm:', 'eval', ['return 1', 0, 'arg'])).toEqual(['return 1', 0, 'arg']);
  });

  it('leaves channels, patterns and commands outside the table as they are', () => {
    expect(withPrefix('tm:', 'publish', ['task_status:1', 'x'])).toEqual(['task_status:1', 'x']);
    expect(withPrefix('tm:', 'keys', ['tm:*'])).toEqual(['tm:*']);
    expect(withPrefix('tm:', 'restore', ['k', 0, 'v'])).toEqual(['k', 0, 'v']);
  });

  it('changes nothing without a prefix', () => {
    expect(withPrefix('', 'get', ['a'])).toEqual(['a']);
  });
});

describe('shape', () => {
  it('gives HGETALL as an object, empty for a missing hash, and other replies as they are', () => {
    expect(shape('hgetall', ['f', 'v', 'g', 'w'])).toEqual({ f: 'v', g: 'w' });
    expect(shape('hgetall', [])).toEqual({});
    expect(shape('lrange', ['f', 'v'])).toEqual(['f', 'v']);
  });
});
