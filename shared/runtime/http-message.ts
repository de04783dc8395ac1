// Pure conversion of an HTTP request ({headers, body}) into a CloudEvent, for binary, structured
// and batch mode. Written out rather than delegated to the CloudEvents SDK's HTTP.toEvent, which
// neither validates nor handles Buffer bodies (it spreads their bytes into attributes) and matches
// content types exactly; each event is validated once, by assertValidCloudEvent (shared/events.ts).
import { UnsupportedEventError } from '../errors';
import { assertValidCloudEvent, type WireEvent } from '../events';

export type HttpMessage = {
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body: Buffer;
};

const STRUCTURED = 'application/cloudevents+json';
/** Attributes that name the event (and end up in keys and logs); extensions such as tracestate
 * follow their own specs. */
const CORE_ATTRIBUTES: ReadonlySet<string> = new Set(['specversion', 'id', 'source', 'type', 'subject', 'time', 'dataschema', 'datacontenttype']);
/** In a ce-* header anything beyond printable ASCII would be percent-encoded by the HTTP binding;
 * node hands raw bytes over as Latin-1, so they would arrive silently altered. */
const NOT_PRINTABLE_ASCII = /[^\x20-\x7e]/;
export const BATCH_CONTENT_TYPE = 'application/cloudevents-batch+json';
const BATCH = BATCH_CONTENT_TYPE;
/** Most events one batch request may carry (the source sends far fewer: TM_SOURCE_BATCH_MAX_EVENTS). */
export const MAX_BATCH_EVENTS = 1_000;

/** `Application/JSON; charset=utf-8` → `application/json`. */
export function toMediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

function header(message: HttpMessage, name: string): string | undefined {
  const value = message.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function decodeUtf8(body: Buffer): string {
  try {
    return UTF8.decode(body);
  } catch {
    throw new UnsupportedEventError('request body is not valid UTF-8');
  }
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UnsupportedEventError(`${what} is not valid JSON: ${(error as Error).message}`);
  }
}

export function isBinaryMode(message: HttpMessage): boolean {
  return header(message, 'ce-specversion') !== undefined;
}

export function toIncomingEvent(message: HttpMessage): WireEvent {
  const mediaType = toMediaType(header(message, 'content-type'));
  if (isBinaryMode(message)) return fromBinary(message, mediaType);
  if (mediaType === STRUCTURED) return fromStructured(message);
  if (mediaType === BATCH) throw new UnsupportedEventError('batched CloudEvents are not supported by this function');
  throw new UnsupportedEventError(
    `no CloudEvent in request: expected ce-* headers (binary mode) or content-type ${STRUCTURED}, got "${mediaType || 'none'}"`,
  );
}

function fromBinary(message: HttpMessage, mediaType: string): WireEvent {
  const attributes: Record<string, unknown> = {};
  const headers = message.headers;
  for (const name in headers) {
    // 'c' 'e' '-': node lower-cases header names
    if (name.charCodeAt(0) !== 99 || name.charCodeAt(1) !== 101 || name.charCodeAt(2) !== 45) continue;
    const value = headers[name];
    if (value === undefined) continue;
    const text = typeof value === 'string' ? value : value.join(',');
    const attribute = name.slice(3);
    if (CORE_ATTRIBUTES.has(attribute) && NOT_PRINTABLE_ASCII.test(text)) {
      throw new UnsupportedEventError(`invalid CloudEvent: header "${name}" holds a control character or a byte outside printable ASCII`);
    }
    attributes[attribute] = text;
  }
  if (message.body.length > 0) {
    if (mediaType !== 'application/json') {
      throw new UnsupportedEventError(`unsupported content-type "${mediaType || 'none'}": data must be application/json`);
    }
    attributes.datacontenttype = 'application/json';
    attributes.data = parseJson(decodeUtf8(message.body), 'event data');
  }
  assertValidCloudEvent(attributes);
  return attributes as WireEvent;
}

export function isBatchMode(message: HttpMessage): boolean {
  return !isBinaryMode(message) && toMediaType(header(message, 'content-type')) === BATCH;
}

/** One element of a batch: its event, or why it is not a valid one. */
export type BatchElement = { event: WireEvent } | { error: unknown };

/**
 * A batched request (CloudEvents JSON batch format: a JSON array of structured events). A body
 * that is not such an array is refused as a whole; each element is checked on its own, so one
 * bad event does not cost the others their delivery.
 */
export function toIncomingBatch(message: HttpMessage): BatchElement[] {
  const parsed = parseJson(decodeUtf8(message.body), 'CloudEvents batch');
  if (!Array.isArray(parsed)) throw new UnsupportedEventError('a CloudEvents batch must be a JSON array of events');
  if (parsed.length === 0) throw new UnsupportedEventError('the CloudEvents batch is empty');
  if (parsed.length > MAX_BATCH_EVENTS) {
    throw new UnsupportedEventError(`the CloudEvents batch holds ${parsed.length} events; at most ${MAX_BATCH_EVENTS} are accepted`);
  }
  return parsed.map((element: unknown): BatchElement => {
    try {
      return { event: toStructuredEvent(element) };
    } catch (error) {
      return { error };
    }
  });
}

function fromStructured(message: HttpMessage): WireEvent {
  return toStructuredEvent(parseJson(decodeUtf8(message.body), 'structured CloudEvent'));
}

function toStructuredEvent(parsed: unknown): WireEvent {
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UnsupportedEventError('structured CloudEvent must be a JSON object');
  }
  const attributes = parsed as Record<string, unknown>;
  const dataType = toMediaType(typeof attributes.datacontenttype === 'string' ? attributes.datacontenttype : undefined);
  if (dataType !== '' && dataType !== 'application/json') {
    throw new UnsupportedEventError(`unsupported datacontenttype "${dataType}": data must be application/json`);
  }
  assertValidCloudEvent(attributes);
  return attributes as WireEvent;
}

/** The headers of a binary-mode delivery of `event` (what the source sends). */
export function toBinaryHeaders(event: WireEvent): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  for (const [name, value] of Object.entries(event)) {
    if (name === 'data' || name === 'data_base64' || name === 'datacontenttype' || value === undefined) continue;
    headers[`ce-${name}`] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  return headers;
}
