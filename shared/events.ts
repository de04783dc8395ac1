// CloudEvents as they travel on JetStream: spec 1.0, structured JSON mode, `subject` = task id,
// W3C trace context in the distributed-tracing extension. Event ids are deterministic for a
// given step of a given task, so a re-published event is the same event and JetStream's
// duplicate window (Nats-Msg-Id = id) drops it.
import { UnsupportedEventError, ValidationError } from './errors';

export const SPEC_VERSION = '1.0';

/** The CloudEvent attributes this project reads and writes. */
export type WireEvent<T = unknown> = {
  specversion: string;
  id: string;
  source: string;
  type: string;
  subject?: string;
  time?: string;
  datacontenttype?: string;
  data?: T;
  traceparent?: string;
  tracestate?: string;
  [extension: string]: unknown;
};

export function toSource(component: string): string {
  return `/taskmanager/${component}`;
}

export type NewEvent<T> = {
  id: string;
  component: string;
  type: string;
  taskId: string;
  data: T;
  timeMs?: number;
};

export function createEvent<T>(input: NewEvent<T>): WireEvent<T> {
  return {
    specversion: SPEC_VERSION,
    id: input.id,
    source: toSource(input.component),
    type: input.type,
    subject: input.taskId,
    time: new Date(input.timeMs ?? Date.now()).toISOString(),
    datacontenttype: 'application/json',
    data: input.data,
  };
}

const UTF8_ENCODER = new TextEncoder();

export function toWireBytes(event: WireEvent): Uint8Array {
  return UTF8_ENCODER.encode(JSON.stringify(event));
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function parseObject(bytes: Uint8Array): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(UTF8.decode(bytes));
  } catch (error) {
    throw new UnsupportedEventError(`message is not a JSON CloudEvent: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UnsupportedEventError('message is not a JSON object, so not a structured CloudEvent');
  }
  return parsed as Record<string, unknown>;
}

/**
 * Parse and validate a structured-mode CloudEvent from bytes. Throws UnsupportedEventError naming
 * what is wrong.
 */
export function fromWireBytes(bytes: Uint8Array): WireEvent {
  const attributes = parseObject(bytes);
  assertValidCloudEvent(attributes);
  return attributes as WireEvent;
}

/**
 * Parse only, for the source: a JSON object whose `id` and `type` are non-empty strings and whose
 * `subject`, when present, is a string: what the source needs to name, trace and deliver the
 * event. The full check (assertValidCloudEvent) happens once, in the function that receives it,
 * whose 400 makes the source dead-letter the event with the function's reason.
 */
export function parseWireEvent(bytes: Uint8Array): WireEvent {
  const attributes = parseObject(bytes);
  for (const name of ['id', 'type'] as const) {
    const value = attributes[name];
    if (typeof value !== 'string' || value === '') {
      throw new UnsupportedEventError(`invalid CloudEvent: required attribute "${name}" is missing or empty`);
    }
  }
  if (attributes.subject !== undefined && typeof attributes.subject !== 'string') {
    throw new UnsupportedEventError('invalid CloudEvent: attribute "subject" must be a string');
  }
  return attributes as WireEvent;
}

const REQUIRED_ATTRIBUTES = ['id', 'source', 'type', 'specversion'] as const;
/** Attributes that name the event (and end up in keys and logs). */
const CORE_STRING_ATTRIBUTES: ReadonlySet<string> = new Set(['specversion', 'id', 'source', 'type', 'subject', 'time', 'dataschema', 'datacontenttype']);
/** Attribute names (CloudEvents 1.0 §"Attribute Naming Convention"): lower-case ASCII letters and
 * digits. The spec's 20-character limit is a SHOULD, so longer names are accepted. */
const ATTRIBUTE_NAME = /^[a-z0-9]+$/;
/** CloudEvents strings may not contain control characters (U+0000-U+001F, U+007F-U+009F). Checked
 * on the attributes that name the event and end up in keys and logs; extensions such as
 * tracestate follow their own specs. */
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;
/** RFC 3986 characters: unreserved, reserved and percent-encoded octets. */
const URI_CHARS = /^(?:[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$/;
const URI_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
/** RFC 3339 date-time (§5.6); 'T' or 't' or a space between date and time, as RFC 3339 allows. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;
/** The CloudEvents Integer type: a 32-bit signed integer. */
const INT32_MIN = -2_147_483_648;
const INT32_MAX = 2_147_483_647;

function invalid(detail: string): UnsupportedEventError {
  return new UnsupportedEventError(`invalid CloudEvent: ${detail}`);
}

/** A value for an error message: quoted, control characters escaped, and cut short. */
function quote(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value) : JSON.stringify(value);
  return text ?? String(value);
}

/** An RFC 3986 URI-reference: an absolute URI or a relative reference (whose first path segment
 * holds no ':', or it would read as a scheme). */
export function isUriReference(value: string): boolean {
  if (!URI_CHARS.test(value)) return false;
  if (URI_SCHEME.test(value)) return true;
  const firstSegment = /^[^/?#]*/.exec(value)![0];
  return !firstSegment.includes(':');
}

/** An absolute RFC 3986 URI (with a scheme). */
export function isAbsoluteUri(value: string): boolean {
  return URI_SCHEME.test(value) && URI_CHARS.test(value);
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** An RFC 3339 timestamp with real calendar fields (a leap second allowed as :60). */
export function isRfc3339(value: string): boolean {
  if (!RFC3339.test(value)) return false;
  // The pattern fixed where each field is: read them without allocating.
  const at = (index: number) => (value.charCodeAt(index) - 48) * 10 + (value.charCodeAt(index + 1) - 48);
  const year = at(0) * 100 + at(2);
  const month = at(5);
  const day = at(8);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return false;
  if (at(11) > 23 || at(14) > 59 || at(17) > 60) return false;
  const last = value.charCodeAt(value.length - 1);
  if (last === 90 || last === 122) return true; // Z or z
  return at(value.length - 5) <= 23 && at(value.length - 2) <= 59;
}

/** An optional attribute that must be a non-empty string when present (null counts as absent,
 * as in the CloudEvents JSON format). */
function assertOptionalString(name: string, value: unknown): value is string {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'string' || value === '') throw invalid(`attribute "${name}" must be a non-empty string, got ${quote(value)}`);
  return true;
}

function assertExtension(name: string, value: unknown): void {
  if (!ATTRIBUTE_NAME.test(name)) {
    throw invalid(`invalid extension name ${quote(name)}: attribute names are lower-case letters a-z and digits 0-9`);
  }
  if (value === null || value === undefined || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number' && Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX) return;
  throw invalid(`extension attribute "${name}" must be a string, a boolean or a 32-bit integer, got ${quote(value)}`);
}

/**
 * Validates the context attributes of a CloudEvents 1.0 event, naming the attribute that is wrong:
 * the four required ones are non-empty strings (`specversion` is 1.0, `source` a URI-reference,
 * and none holds a control character); the optional ones have their types (`subject` and
 * `datacontenttype` non-empty strings, `time` RFC 3339, `dataschema` an absolute URI); extension
 * names are lower-case letters and digits with string, boolean or integer values. `data` may be
 * any JSON value. Written out rather than the SDK's ajv schema: this runs once per delivery and
 * costs a few microseconds.
 */
export function assertValidCloudEvent(attributes: Record<string, unknown>): void {
  for (const name of REQUIRED_ATTRIBUTES) {
    const value = attributes[name];
    if (typeof value !== 'string' || value === '') {
      throw invalid(`required attribute "${name}" is missing or empty`);
    }
  }
  if (attributes.specversion !== SPEC_VERSION) {
    throw new UnsupportedEventError(
      `unsupported CloudEvents specversion ${quote(attributes.specversion)}: only ${SPEC_VERSION} is accepted`,
    );
  }
  for (const name of Object.keys(attributes)) {
    const value = attributes[name];
    if (typeof value === 'string' && CORE_STRING_ATTRIBUTES.has(name) && CONTROL_CHARS.test(value)) {
      throw invalid(`attribute "${name}" contains a control character`);
    }
    switch (name) {
      case 'id':
      case 'type':
      case 'specversion':
        break;
      case 'source':
        if (!isUriReference(value as string)) throw invalid(`attribute "source" must be a URI-reference, got ${quote(value)}`);
        break;
      case 'subject':
      case 'datacontenttype':
        assertOptionalString(name, value);
        break;
      case 'time':
        if (assertOptionalString(name, value) && !isRfc3339(value)) {
          throw invalid(`attribute "time" must be an RFC 3339 timestamp, got ${quote(value)}`);
        }
        break;
      case 'dataschema':
        if (assertOptionalString(name, value) && !isAbsoluteUri(value)) {
          throw invalid(`attribute "dataschema" must be an absolute URI, got ${quote(value)}`);
        }
        break;
      case 'data':
        break;
      case 'data_base64':
        if (value !== null && typeof value !== 'string') throw invalid(`attribute "data_base64" must be a base64 string`);
        break;
      default:
        assertExtension(name, value);
    }
  }
}

export function requireTaskId(event: { subject?: string | undefined }): string {
  const subject = event.subject;
  if (typeof subject !== 'string' || subject === '') {
    throw new ValidationError('CloudEvent subject (the task id) is missing', { field: 'subject' });
  }
  return subject;
}
