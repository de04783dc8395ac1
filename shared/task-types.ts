// The built-in task types and what every task type is: its payload schema, its timeout, its
// attempt budget and where its handler lives. Ingest validates payloads against the schemas, the
// worker runs the handlers, the gateway lists the types. Users add their own types in a registry
// file (TM_TASK_TYPES_FILE, task-registry.ts) without touching this list; a built-in = an entry
// here + a handler file in functions/worker/handlers/ (a unit test checks that the two agree).
import type { ValidateFunction } from 'ajv';
import { createAjv } from './lazy-modules';
import { DEFAULT_MAX_ATTEMPTS } from './contract';

/** The longest a single attempt may run: the cap on metadata.timeout_ms (checked by the gateway). */
export const MAX_TASK_TIMEOUT_MS = 86_400_000;

/** Letters, digits, '_' and '-': no '.', '*', '>' or whitespace, so a type can become a NATS token. */
export const TASK_TYPE_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

/** Where a type's handler runs (DESIGN §9). */
export type HandlerRef =
  /** Code shipped in the worker (functions/worker/handlers/), by its built-in name. */
  | { readonly kind: 'builtin'; readonly name: string }
  /** Any CloudEvents HTTP endpoint, in any language: the worker POSTs each attempt to it. */
  | { readonly kind: 'http'; readonly url: string }
  /** A JavaScript (or erasable TypeScript) module the worker loads at start-up; absolute path. */
  | { readonly kind: 'module'; readonly path: string };

export type TaskTypeSpec = {
  readonly type: string;
  readonly description: string;
  /** JSON Schema of the payload. */
  readonly payloadSchema: Record<string, unknown>;
  /** How long one attempt may run before the worker gives up (metadata.timeout_ms overrides). */
  readonly defaultTimeoutMs: number;
  /** Most attempts a task of this type gets; a task's own max_attempts may only lower it. */
  readonly maxAttempts: number;
  /** Waits between attempts; undefined = the deployment's schedule (TM_RETRY_DELAYS_MS). */
  readonly retryDelaysMs?: readonly number[] | undefined;
  readonly handler: HandlerRef;
};

type BuiltinFields = Pick<TaskTypeSpec, 'type' | 'description' | 'payloadSchema' | 'defaultTimeoutMs'>;

function builtin(fields: BuiltinFields): TaskTypeSpec {
  return Object.freeze({ ...fields, maxAttempts: DEFAULT_MAX_ATTEMPTS, handler: Object.freeze({ kind: 'builtin', name: fields.type }) });
}

export const TASK_TYPES: readonly TaskTypeSpec[] = [
  { type: 'echo', description: 'returns the payload', payloadSchema: {}, defaultTimeoutMs: 10_000 },
  {
    type: 'sleep',
    description: 'waits ms milliseconds, reporting progress',
    payloadSchema: {
      type: 'object',
      required: ['ms'],
      properties: { ms: { type: 'integer', minimum: 0, maximum: 3_600_000 } },
      additionalProperties: false,
    },
    defaultTimeoutMs: 3_660_000,
  },
  {
    type: 'hash',
    description: 'returns the sha256 hex of data',
    payloadSchema: {
      type: 'object',
      required: ['data'],
      properties: { data: { type: 'string' } },
      additionalProperties: false,
    },
    defaultTimeoutMs: 10_000,
  },
  {
    type: 'fail',
    description: 'always throws a retryable error',
    payloadSchema: {
      type: 'object',
      properties: { message: { type: 'string' } },
      additionalProperties: false,
    },
    defaultTimeoutMs: 10_000,
  },
  {
    type: 'flaky',
    description: 'throws on the first N attempts, then succeeds',
    payloadSchema: {
      type: 'object',
      required: ['failures'],
      properties: { failures: { type: 'integer', minimum: 0, maximum: 100 } },
      additionalProperties: false,
    },
    defaultTimeoutMs: 10_000,
  },
].map(builtin);

export function findTaskType(type: string): TaskTypeSpec | undefined {
  return TASK_TYPES.find((spec) => spec.type === type);
}

export type PayloadCheck = { ok: true; value: unknown } | { ok: false; reason: string };

export type PayloadValidator = (type: string, payloadJson: string) => PayloadCheck;

/**
 * Compiles each type's schema on its first payload (start-up compiles nothing: cold start); the
 * returned function explains the first problems it finds.
 */
export function createPayloadValidator(types: readonly TaskTypeSpec[] = TASK_TYPES): PayloadValidator {
  const specs = new Map(types.map((spec) => [spec.type, spec]));
  const compiled = new Map<string, ValidateFunction>();
  let ajv: ReturnType<typeof createAjv> | undefined;
  const validatorOf = (spec: TaskTypeSpec): ValidateFunction => {
    let validate = compiled.get(spec.type);
    if (!validate) {
      ajv ??= createAjv();
      validate = ajv.compile(spec.payloadSchema);
      compiled.set(spec.type, validate);
    }
    return validate;
  };
  return (type, payloadJson) => {
    const spec = specs.get(type);
    if (!spec) {
      return { ok: false, reason: `unknown task type "${type}" (known: ${types.map((t) => t.type).join(', ')})` };
    }
    const validate = validatorOf(spec);
    let value: unknown;
    try {
      value = JSON.parse(payloadJson);
    } catch (error) {
      return { ok: false, reason: `payload is not valid JSON: ${(error as Error).message}` };
    }
    if (!validate(value)) {
      const problems = (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`);
      return { ok: false, reason: `payload does not match the schema of "${type}": ${problems.join('; ')}` };
    }
    return { ok: true, value };
  };
}
