import { describe, expect, it } from 'vitest';
import { UnsupportedEventError, ValidationError } from './errors';
import { assertValidCloudEvent, createEvent, fromWireBytes, requireTaskId, toSource, toWireBytes } from './events';

const event = createEvent({ id: 't-1:accepted', component: 'ingest', type: 'taskmanager.task.accepted', taskId: 't-1', data: { n: 1 }, timeMs: 0 });

function bytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
}

function refusal(input: Uint8Array): Error {
  try {
    fromWireBytes(input);
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected fromWireBytes to refuse the input');
}

describe('createEvent', () => {
  it('builds a structured CloudEvent 1.0 whose subject is the task id and source names the component', () => {
    expect(event).toEqual({
      specversion: '1.0',
      id: 't-1:accepted',
      source: toSource('ingest'),
      type: 'taskmanager.task.accepted',
      subject: 't-1',
      time: '1970-01-01T00:00:00.000Z',
      datacontenttype: 'application/json',
      data: { n: 1 },
    });
    expect(toSource('ingest')).toBe('/taskmanager/ingest');
  });
});

describe('fromWireBytes', () => {
  it('reads back what toWireBytes wrote', () => {
    expect(fromWireBytes(toWireBytes(event))).toEqual(event);
  });

  it('keeps extension attributes such as traceparent', () => {
    const traced = { ...event, traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
    expect(fromWireBytes(toWireBytes(traced)).traceparent).toBe(traced.traceparent);
  });

  it.each([
    ['text that is not JSON', 'hello', /not a JSON CloudEvent/],
    ['truncated JSON', '{"specversion":"1.0",', /not a JSON CloudEvent/],
    ['an empty message', '', /not a JSON CloudEvent/],
  ])('refuses %s', (_name, text, reason) => {
    const error = refusal(bytes(text));
    expect(error).toBeInstanceOf(UnsupportedEventError);
    expect(error.message).toMatch(reason);
  });

  it('refuses bytes that are not UTF-8', () => {
    const error = refusal(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]));
    expect(error).toBeInstanceOf(UnsupportedEventError);
    expect(error.message).toMatch(/not a JSON CloudEvent/);
  });

  it.each([
    ['an array', [event]],
    ['a string', 'event'],
    ['a number', 42],
    ['null', null],
  ])('refuses JSON that is %s, not an object', (_name, value) => {
    const error = refusal(bytes(JSON.stringify(value)));
    expect(error).toBeInstanceOf(UnsupportedEventError);
    expect(error.message).toMatch(/not a JSON object/);
  });

  it.each(['id', 'source', 'type', 'specversion'])('refuses an event without %s, naming it', (attribute) => {
    const partial: Record<string, unknown> = { ...event };
    delete partial[attribute];
    const error = refusal(bytes(partial));
    expect(error).toBeInstanceOf(UnsupportedEventError);
    expect(error.message).toContain(`"${attribute}"`);
  });

  it.each(['id', 'source', 'type'])('refuses an event whose %s is empty or not a string', (attribute) => {
    expect(refusal(bytes({ ...event, [attribute]: '' })).message).toContain(`"${attribute}"`);
    expect(refusal(bytes({ ...event, [attribute]: 7 })).message).toContain(`"${attribute}"`);
  });

  it.each(['0.3', '1', '2.0'])('refuses specversion %s', (version) => {
    const error = refusal(bytes({ ...event, specversion: version }));
    expect(error).toBeInstanceOf(UnsupportedEventError);
    expect(error.message).toContain(`specversion "${version}"`);
  });

  it.each([
    ['time', 'yesterday'],
    ['subject', ''],
    ['datacontenttype', 5],
  ])('refuses a malformed optional attribute (%s), naming it', (attribute, value) => {
    const error = refusal(bytes({ ...event, [attribute]: value }));
    expect(error).toBeInstanceOf(UnsupportedEventError);
    expect(error.message).toContain(`"${attribute}"`);
  });

  it('refuses an invalid extension attribute name', () => {
    expect(refusal(bytes({ ...event, Bad_Name: 'x' })).message).toMatch(/extension name.*Bad_Name/);
  });
});

describe('assertValidCloudEvent', () => {
  it('accepts a valid event with numeric extensions (deliveryattempt)', () => {
    expect(() => assertValidCloudEvent({ ...event, deliveryattempt: 2 })).not.toThrow();
  });
});

describe('requireTaskId', () => {
  it('returns the subject', () => {
    expect(requireTaskId({ subject: 't-9' })).toBe('t-9');
  });

  it.each([undefined, ''])('refuses a missing or empty subject (%s) with a ValidationError on "subject"', (subject) => {
    let error: unknown;
    try {
      requireTaskId({ subject });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('subject');
  });
});
