// Request validation at the edge (docs/decisions/0003-gateway-validation.md). Pure: a request
// in, a normalized request or a ValidationError out. Every message starts with the field it is
// about, so a client can tell what to fix. The gateway checks shape only; whether `type` is a
// known task type and whether the payload fits its schema is ingest's job (REJECTED + dead letter).
import { MAX_TASK_TIMEOUT_MS, TASK_TYPE_PATTERN } from '../shared/task-types';

import { DEFAULT_MAX_ATTEMPTS, MAX_DELAY_MS, type Priority } from '../shared/contract';
import { ValidationError } from '../shared/errors';
import type { SubmitTaskRequest } from './proto';
import { wireProblemOf } from './wire-check';

export type ValidationLimits = {
  maxPayloadBytes: number;
  /** The attempt limit of each known task type (the registry's max_attempts); a type not in it
   * (unknown here: ingest rejects it) gets DEFAULT_MAX_ATTEMPTS. */
  typeAttempts?: ReadonlyMap<string, number>;
};

export type NormalizedSubmit = {
  type: string;
  payload: string;
  priority: Priority;
  idempotencyKey: string | undefined;
  metadata: Record<string, string>;
  delayMs: number;
  maxAttempts: number;
};

export type Validated<T> = { ok: true; value: T } | { ok: false; error: ValidationError };

export const TASK_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
export const METADATA_KEY_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;
/** Printable ASCII without space. */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,256}$/;
/** C0 and C1 controls and DEL (Unicode category Cc). */
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

export const MAX_METADATA_ENTRIES = 64;
export const MAX_METADATA_VALUE_CHARS = 1024;
export const MAX_TIMEOUT_MS = MAX_TASK_TIMEOUT_MS;

const PRIORITIES: Record<string, Priority> = {
  PRIORITY_UNSPECIFIED: 'medium',
  PRIORITY_LOW: 'low',
  PRIORITY_MEDIUM: 'medium',
  PRIORITY_HIGH: 'high',
};

/** A value quoted for an error message: control characters visible, long values cut. */
function show(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
}

/**
 * Half of a surrogate pair becomes U+FFFD. A message may quote the input (V8's JSON.parse errors
 * cut a snippet of it anywhere), and grpc-js percent-encodes grpc-message with encodeURI, which
 * throws on a lone surrogate: the call would never be answered and the rejection would go
 * unhandled, which ends the process.
 */
function toWellFormed(text: string): string {
  return text.replace(/\p{Cs}/gu, '\ufffd');
}

export function invalid(field: string, problem: string): ValidationError {
  return new ValidationError(toWellFormed(`${field}: ${problem}`), { field });
}

export function checkType(type: unknown): ValidationError | undefined {
  if (typeof type !== 'string' || type === '') return invalid('type', 'is required');
  if (type.length > 128) return invalid('type', `must be at most 128 characters, got ${type.length}`);
  if (!TASK_TYPE_PATTERN.test(type)) {
    return invalid('type', `may contain only letters, digits, '_' and '-', got ${show(type)}`);
  }
  return undefined;
}

function checkPayload(payload: unknown, limits: ValidationLimits): ValidationError | undefined {
  if (typeof payload !== 'string' || payload.trim() === '') return invalid('payload', 'is required (JSON text)');
  const bytes = Buffer.byteLength(payload, 'utf8');
  if (bytes > limits.maxPayloadBytes) {
    return invalid('payload', `is ${bytes} bytes, over the limit of ${limits.maxPayloadBytes} bytes`);
  }
  try {
    JSON.parse(payload);
  } catch (error) {
    return invalid('payload', `is not valid JSON: ${(error as Error).message}`);
  }
  return undefined;
}

function toPriority(priority: unknown): Priority | ValidationError {
  const known = typeof priority === 'string' ? PRIORITIES[priority] : undefined;
  if (known) return known;
  return invalid('priority', `unknown value ${String(priority)} (expected one of ${Object.keys(PRIORITIES).join(', ')})`);
}

function checkIdempotencyKey(key: unknown): ValidationError | undefined {
  if (key === undefined) return undefined;
  if (typeof key !== 'string' || key === '') return invalid('idempotency_key', 'must not be empty when set');
  if (key.length > 256) return invalid('idempotency_key', `must be at most 256 characters, got ${key.length}`);
  if (!IDEMPOTENCY_KEY_PATTERN.test(key)) {
    return invalid('idempotency_key', `must be printable ASCII without spaces or line breaks, got ${show(key)}`);
  }
  return undefined;
}

function checkMetadata(metadata: unknown): ValidationError | undefined {
  if (metadata === undefined || metadata === null) return undefined;
  if (typeof metadata !== 'object') return invalid('metadata', 'must be a map of strings');
  const entries = Object.entries(metadata as Record<string, unknown>);
  if (entries.length > MAX_METADATA_ENTRIES) {
    return invalid('metadata', `has ${entries.length} entries, at most ${MAX_METADATA_ENTRIES} are allowed`);
  }
  for (const [key, value] of entries) {
    if (!METADATA_KEY_PATTERN.test(key)) {
      return invalid('metadata', `key ${show(key)} must be 1..128 letters, digits, '_', '.' or '-'`);
    }
    const field = `metadata.${key}`;
    if (typeof value !== 'string') return invalid(field, 'must be a string');
    if (value.length > MAX_METADATA_VALUE_CHARS) {
      return invalid(field, `must be at most ${MAX_METADATA_VALUE_CHARS} characters, got ${value.length}`);
    }
    if (CONTROL_CHARS.test(value)) return invalid(field, `must not contain control characters, got ${show(value)}`);
  }
  const timeout = (metadata as Record<string, string>).timeout_ms;
  if (timeout !== undefined) {
    const ms = /^\d{1,9}$/.test(timeout) ? Number(timeout) : NaN;
    if (!(ms >= 1 && ms <= MAX_TIMEOUT_MS)) {
      return invalid('metadata.timeout_ms', `must be a whole number of milliseconds in 1..${MAX_TIMEOUT_MS}, got ${show(timeout)}`);
    }
  }
  return undefined;
}

function toDelayMs(delay: unknown): number | ValidationError {
  if (delay === undefined || delay === null) return 0;
  const ms = Number(delay);
  if (!Number.isInteger(ms) || ms < 0 || ms > MAX_DELAY_MS) {
    return invalid('delay_ms', `must be 0..${MAX_DELAY_MS} (30 days), got ${String(delay)}`);
  }
  return ms;
}

/** 0 = the type's limit; otherwise at most that: a task may lower its type's limit, not raise it. */
function toMaxAttempts(value: unknown, type: string, limits: ValidationLimits): number | ValidationError {
  const limit = limits.typeAttempts?.get(type) ?? DEFAULT_MAX_ATTEMPTS;
  const attempts = value === undefined || value === null ? 0 : Number(value);
  if (attempts === 0) return limit;
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > limit) {
    return invalid('max_attempts', `must be 0 (the default: the limit of task type "${type}", ${limit}) or 1..${limit}, got ${String(value)}`);
  }
  return attempts;
}

/**
 * Checks fields in proto order and reports the first problem; bytes the decoder would have altered
 * (found before decoding, wire-check.ts) come first, since the decoded request is not what was sent.
 */
export function validateSubmit(request: SubmitTaskRequest, limits: ValidationLimits): Validated<NormalizedSubmit> {
  const fail = (error: ValidationError): Validated<NormalizedSubmit> => ({ ok: false, error });
  const wireError = wireProblemOf(request);
  if (wireError) return fail(wireError);
  const typeError = checkType(request.type) ?? checkPayload(request.payload, limits);
  if (typeError) return fail(typeError);
  const priority = toPriority(request.priority);
  if (priority instanceof ValidationError) return fail(priority);
  const otherError = checkIdempotencyKey(request.idempotency_key) ?? checkMetadata(request.metadata);
  if (otherError) return fail(otherError);
  const delayMs = toDelayMs(request.delay_ms);
  if (delayMs instanceof ValidationError) return fail(delayMs);
  const maxAttempts = toMaxAttempts(request.max_attempts, request.type, limits);
  if (maxAttempts instanceof ValidationError) return fail(maxAttempts);
  return {
    ok: true,
    value: {
      type: request.type,
      payload: request.payload,
      priority,
      idempotencyKey: request.idempotency_key,
      metadata: { ...(request.metadata ?? {}) },
      delayMs,
      maxAttempts,
    },
  };
}

export function validateTaskId(taskId: unknown): Validated<string> {
  if (typeof taskId !== 'string' || taskId === '') return { ok: false, error: invalid('task_id', 'is required') };
  if (!TASK_ID_PATTERN.test(taskId)) {
    return { ok: false, error: invalid('task_id', `must be 1..128 letters, digits, '_' or '-', got ${show(taskId)}`) };
  }
  return { ok: true, value: taskId };
}

export function validateAfterSeq(afterSeq: unknown): Validated<number | undefined> {
  if (afterSeq === undefined || afterSeq === null) return { ok: true, value: undefined };
  const seq = Number(afterSeq);
  if (!Number.isSafeInteger(seq) || seq < 0) {
    return { ok: false, error: invalid('after_seq', `must be 0 or more, got ${String(afterSeq)}`) };
  }
  return { ok: true, value: seq };
}

/** Throws the ValidationError, for callers that let errors.ts map it. */
export function orThrow<T>(result: Validated<T>): T {
  if (!result.ok) throw result.error;
  return result.value;
}
