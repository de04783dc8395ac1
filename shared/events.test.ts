import { describe, expect, it } from 'vitest';
import { UnsupportedEventError, ValidationError } from './errors';
import { assertValidCloudEvent, createEvent, fromWireBytes, parseWireEvent, requireTaskId, toSource, toWireBytes } from './events';

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
  function problem(attributes: Record<string, unknown>): string {
    try {
      assertValidCloudEvent(attributes);
    } catch (error) {
      expect(error).toBeInstanceOf(UnsupportedEventError);
      return (error as Error).message;
    }
    throw new Error(`expected ${JSON.stringify(attributes)} to be refused`);
  }

  it('accepts a valid event with numeric extensions (deliveryattempt)', () => {
    expect(() => assertValidCloudEvent({ ...event, deliveryattempt: 2 })).not.toThrow();
  });

  it.each<[string, Record<string, unknown>]>([
    ['the minimum: the four required attributes', { specversion: '1.0', id: 'a', source: 'b', type: 'c' }],
    ['an absolute URI source', { source: 'https://github.com/cloudevents' }],
    ['a URN source', { source: 'urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66' }],
    ['a mailto source', { source: 'mailto:cncf-wg-serverless@lists.cncf.io' }],
    ['a relative source', { source: 'cloudevents/spec/pull/123' }],
    ['a phone-number source', { source: '1-555-123-4567' }],
    ['a percent-encoded source', { source: '/a%20b?x=1#frag' }],
    ['a time with an offset and fractions', { time: '2018-04-05T17:31:00.123456+02:00' }],
    ['a time in lower case with a space', { time: '2018-04-05 17:31:00z' }],
    ['29 February of a leap year', { time: '2024-02-29T00:00:00Z' }],
    ['a leap second', { time: '2016-12-31T23:59:60Z' }],
    ['a dataschema URI', { dataschema: 'https://example.com/schema.json' }],
    ['null optional attributes (absent)', { subject: null, time: null, dataschema: null, datacontenttype: null }],
    ['string, boolean, integer and null extensions', { traceparent: '00-x', flag: true, count: -5, nothing: null }],
    ['a long extension name (the spec only says SHOULD NOT exceed 20)', { knativearrivaltimeandmore: 'x' }],
    ['a tab in tracestate (an extension with its own syntax)', { tracestate: 'a=1,\tb=2' }],
    ['data of any JSON type', { data: [1, 'two', null] }],
  ])('accepts %s', (_what, attributes) => {
    expect(() => assertValidCloudEvent({ ...event, ...attributes })).not.toThrow();
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['a missing id', { id: undefined }, /required attribute "id" is missing or empty/],
    ['a numeric source', { source: 1 }, /required attribute "source" is missing or empty/],
    ['an empty type', { type: '' }, /required attribute "type" is missing or empty/],
    ['specversion 1', { specversion: '1' }, /unsupported CloudEvents specversion "1": only 1\.0 is accepted/],
    ['a source with a space', { source: ':: not a uri' }, /attribute "source" must be a URI-reference, got ":: not a uri"/],
    ['a source with spaces', { source: 'a b' }, /attribute "source" must be a URI-reference/],
    ['a relative source whose first segment holds a colon', { source: '::x/y' }, /attribute "source"/],
    ['a source with a bad escape', { source: '/a%zz' }, /attribute "source"/],
    ['a control character in id', { id: 'a\nb' }, /attribute "id" contains a control character/],
    ['a C1 control character in subject', { subject: 'a\u0085b' }, /attribute "subject" contains a control character/],
    ['an empty subject', { subject: '' }, /attribute "subject" must be a non-empty string/],
    ['a numeric subject', { subject: 5 }, /attribute "subject" must be a non-empty string, got 5/],
    ['a numeric datacontenttype', { datacontenttype: 5 }, /attribute "datacontenttype"/],
    ['a time that is a word', { time: 'yesterday' }, /attribute "time" must be an RFC 3339 timestamp, got "yesterday"/],
    ['month 13', { time: '2024-13-01T00:00:00Z' }, /attribute "time"/],
    ['30 February', { time: '2024-02-30T00:00:00Z' }, /attribute "time"/],
    ['29 February of a common year', { time: '2023-02-29T00:00:00Z' }, /attribute "time"/],
    ['hour 24', { time: '2024-01-01T24:00:00Z' }, /attribute "time"/],
    ['a time without a zone', { time: '2024-01-01T00:00:00' }, /attribute "time"/],
    ['epoch seconds as time', { time: '1700000000' }, /attribute "time"/],
    ['a relative dataschema', { dataschema: '/schema.json' }, /attribute "dataschema" must be an absolute URI/],
    ['an upper-case extension name', { Bad_Name: 'x' }, /invalid extension name "Bad_Name"/],
    ['an extension name with a dash', { 'trace-parent': 'x' }, /extension name "trace-parent"/],
    ['an object extension', { meta: { a: 1 } }, /extension attribute "meta" must be a string, a boolean or a 32-bit integer/],
    ['an array extension', { list: [1] }, /extension attribute "list"/],
    ['a fractional extension', { ratio: 1.5 }, /extension attribute "ratio".*got 1\.5/],
    ['an extension beyond 32 bits', { big: 2 ** 31 }, /extension attribute "big"/],
    ['a numeric data_base64', { data_base64: 5 }, /attribute "data_base64"/],
  ])('refuses %s, naming the attribute', (_what, attributes, reason) => {
    expect(problem({ ...event, ...attributes })).toMatch(reason);
  });

  it('cuts a long value short in the message', () => {
    expect(problem({ ...event, time: 'x'.repeat(10_000) }).length).toBeLessThan(300);
  });
});

describe('parseWireEvent (the source: parse only, the function validates)', () => {
  it('reads back what toWireBytes wrote', () => {
    expect(parseWireEvent(toWireBytes(event))).toEqual(event);
  });

  it('does not validate what the source does not need (the function refuses it later)', () => {
    expect(parseWireEvent(bytes({ ...event, specversion: '0.3', time: 'yesterday', Bad_Name: 1 })).specversion).toBe('0.3');
  });

  it.each([
    ['not JSON', 'hello', /not a JSON CloudEvent/],
    ['an array', '[]', /not a JSON object/],
    ['no id', JSON.stringify({ ...event, id: undefined }), /"id" is missing or empty/],
    ['an empty type', JSON.stringify({ ...event, type: '' }), /"type" is missing or empty/],
    ['a numeric subject', JSON.stringify({ ...event, subject: 5 }), /"subject" must be a string/],
  ])('refuses %s', (_what, text, reason) => {
    expect(() => parseWireEvent(bytes(text))).toThrow(UnsupportedEventError);
    expect(() => parseWireEvent(bytes(text))).toThrow(reason);
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
