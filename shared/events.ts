// CloudEvents as they travel on JetStream: spec 1.0, structured JSON mode, `subject` = task id,
// W3C trace context in the distributed-tracing extension. Event ids are deterministic for a
// given step of a given task, so a re-published event is the same event and JetStream's
// duplicate window (Nats-Msg-Id = id) drops it.
import { CloudEvent, ValidationError as CeValidationError } from 'cloudevents';
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

export function toWireBytes(event: WireEvent): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(event));
}

/**
 * Parse and validate a structured-mode CloudEvent from bytes (what the source reads from
 * JetStream). Throws UnsupportedEventError naming what is wrong.
 */
export function fromWireBytes(bytes: Uint8Array): WireEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw new UnsupportedEventError(`message is not a JSON CloudEvent: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UnsupportedEventError('message is not a JSON object, so not a structured CloudEvent');
  }
  assertValidCloudEvent(parsed as Record<string, unknown>);
  return parsed as WireEvent;
}

/**
 * The event in bytes read from JetStream, checked only for what the source needs to deliver it
 * (a JSON object with the four required attributes as non-empty strings, spec 1.0); the function
 * validates the rest once, when it takes the event (one validation per event, docs/design.md §6).
 */
export function parseWireEvent(bytes: Uint8Array): WireEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw new UnsupportedEventError(`message is not a JSON CloudEvent: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UnsupportedEventError('message is not a JSON object, so not a structured CloudEvent');
  }
  assertRequiredAttributes(parsed as Record<string, unknown>);
  return parsed as WireEvent;
}

function assertRequiredAttributes(attributes: Record<string, unknown>): void {
  // The SDK invents an id when none is given and tolerates other spec versions: check first.
  for (const name of ['id', 'source', 'type', 'specversion']) {
    const value = attributes[name];
    if (typeof value !== 'string' || value === '') {
      throw new UnsupportedEventError(`invalid CloudEvent: required attribute "${name}" is missing or empty`);
    }
  }
  if (attributes.specversion !== SPEC_VERSION) {
    throw new UnsupportedEventError(
      `unsupported CloudEvents specversion "${String(attributes.specversion)}": only ${SPEC_VERSION} is accepted`,
    );
  }
}

/** Validates with the CloudEvents SDK (which `HTTP.toEvent` does not do by itself). */
export function assertValidCloudEvent(attributes: Record<string, unknown>): void {
  assertRequiredAttributes(attributes);
  try {
    new CloudEvent(attributes as never, true);
  } catch (error) {
    if (error instanceof CeValidationError) {
      const detail = (error.errors ?? []).map(describeSchemaError).join('; ');
      throw new UnsupportedEventError(`invalid CloudEvent: ${detail || error.message.trim()}`);
    }
    throw new UnsupportedEventError(`invalid CloudEvent: ${(error as Error).message}`);
  }
}

/** An ajv error of the SDK's schema check, naming the attribute (ajv's message alone does not). */
function describeSchemaError(error: unknown): string {
  if (typeof error !== 'object' || error === null || !('message' in error)) return String(error);
  const path = 'instancePath' in error && typeof error.instancePath === 'string' ? error.instancePath.replace(/^\//, '') : '';
  return path === '' ? String(error.message) : `attribute "${path}" ${String(error.message)}`;
}

export function requireTaskId(event: { subject?: string | undefined }): string {
  const subject = event.subject;
  if (typeof subject !== 'string' || subject === '') {
    throw new ValidationError('CloudEvent subject (the task id) is missing', { field: 'subject' });
  }
  return subject;
}
