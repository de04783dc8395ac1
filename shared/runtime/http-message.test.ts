import { describe, expect, it } from 'vitest';
import { createEvent } from '../events';
import { UnsupportedEventError } from '../errors';
import { isBinaryMode, toBinaryHeaders, toIncomingEvent, toMediaType } from './http-message';

const event = {
  ...createEvent({ id: 'e-1', component: 'tester', type: 'test.type', taskId: 't-1', data: { a: [1, 2] }, timeMs: 0 }),
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  deliveryattempt: '2',
};

describe('http-message', () => {
  it('a binary-mode delivery built by toBinaryHeaders reads back as the same event', () => {
    const headers = toBinaryHeaders(event);
    expect(headers['content-type']).toBe('application/json');
    expect(headers['ce-subject']).toBe('t-1');
    expect(headers).not.toHaveProperty('ce-data');
    expect(headers).not.toHaveProperty('ce-datacontenttype');
    expect(toIncomingEvent({ headers, body: Buffer.from(JSON.stringify(event.data)) })).toEqual(event);
  });

  it('a binary-mode event without a body has no data', () => {
    const { data: _data, datacontenttype: _type, ...attributes } = event;
    const read = toIncomingEvent({ headers: toBinaryHeaders(event), body: Buffer.alloc(0) });
    expect(read).toEqual(attributes);
  });

  it('a structured-mode event reads back as itself', () => {
    const read = toIncomingEvent({
      headers: { 'content-type': 'application/cloudevents+json; charset=UTF-8' },
      body: Buffer.from(JSON.stringify(event)),
    });
    expect(read).toEqual(event);
  });

  it('the ce-specversion header decides the mode', () => {
    expect(isBinaryMode({ headers: { 'ce-specversion': '1.0' }, body: Buffer.alloc(0) })).toBe(true);
    expect(isBinaryMode({ headers: { 'content-type': 'application/cloudevents+json' }, body: Buffer.alloc(0) })).toBe(false);
  });

  it('normalises media types', () => {
    expect(toMediaType('Application/JSON; charset=utf-8')).toBe('application/json');
    expect(toMediaType(undefined)).toBe('');
  });

  it('refuses a request with neither ce- headers nor a structured content type', () => {
    expect(() => toIncomingEvent({ headers: {}, body: Buffer.from('{}') })).toThrow(UnsupportedEventError);
    expect(() => toIncomingEvent({ headers: {}, body: Buffer.from('{}') })).toThrow(/got "none"/);
  });
  it('refuses a control character or a byte outside ASCII in a ce-* header, naming the header', () => {
    for (const value of ['e\t1', 'e\u00e9', 'e\u0085']) {
      const headers = { ...toBinaryHeaders(event), 'ce-id': value };
      expect(() => toIncomingEvent({ headers, body: Buffer.from('{}') })).toThrow(/header "ce-id" holds a control character/);
    }
  });

  it('refuses a control character in a structured-mode attribute, naming the attribute', () => {
    const body = Buffer.from(JSON.stringify({ ...event, subject: 't-1\r\nx' }));
    expect(() => toIncomingEvent({ headers: { 'content-type': 'application/cloudevents+json' }, body })).toThrow(
      /attribute "subject" contains a control character/,
    );
    // Extensions follow their own specs (tracestate allows tabs between members).
    const traced = Buffer.from(JSON.stringify({ ...event, tracestate: 'a=1,\tb=2' }));
    expect(toIncomingEvent({ headers: { 'content-type': 'application/cloudevents+json' }, body: traced }).tracestate).toBe('a=1,\tb=2');
  });
});
