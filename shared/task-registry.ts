// The task type registry file (TM_TASK_TYPES_FILE, DESIGN §9): users register their own task
// types without forking, each with a payload schema, a timeout, an attempt budget, an optional
// retry schedule and one handler (an HTTP endpoint in any language, a module, or a built-in).
// The gateway, ingest and the worker read the same file at start-up; a bad file stops each of
// them with every problem listed, never the first one only, so one edit fixes it.
//
// Pure but for readTaskTypes, which reads the file: text in, types or problems out.
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { Ajv } from 'ajv';
import { createAjv, parseYaml } from './lazy-modules';
import { MAX_DELAY_MS } from './contract';
import { describeError } from './errors';
import { MAX_TASK_TIMEOUT_MS, TASK_TYPE_PATTERN, TASK_TYPES, type HandlerRef, type TaskTypeSpec } from './task-types';

/** The most attempts a type may have (TM_MAX_DELIVER's own upper bound). */
export const MAX_TYPE_ATTEMPTS = 100;
/** The most waits a retry schedule may list. */
const MAX_RETRY_DELAYS = 100;

const ENTRY_KEYS = ['name', 'description', 'schema', 'timeout_ms', 'max_attempts', 'retry_delays_ms', 'http', 'module', 'builtin'] as const;
const HANDLER_KEYS = ['http', 'module', 'builtin'] as const;

export type RegistryParse = { ok: true; types: TaskTypeSpec[] } | { ok: false; problems: string[] };

type Entry = Record<string, unknown>;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

/** The registry document: YAML (a superset of JSON, so a .json file parses too). */
function parseDocument(text: string): { ok: true; value: unknown } | { ok: false; problem: string } {
  try {
    return { ok: true, value: parseYaml(text) };
  } catch (error) {
    return { ok: false, problem: `is neither valid YAML nor JSON: ${describeError(error).split('\n')[0]}` };
  }
}

function checkInteger(entry: Entry, key: string, min: number, max: number, problems: string[]): number {
  const value = entry[key];
  if (value === undefined) {
    problems.push(`${key} is required`);
    return 0;
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    problems.push(`${key} must be an integer from ${min} to ${max}, got ${show(value)}`);
    return 0;
  }
  return value;
}

function checkRetryDelays(value: unknown, problems: string[]): number[] | undefined {
  if (value === undefined) return undefined;
  const valid =
    Array.isArray(value) &&
    value.length > 0 &&
    value.length <= MAX_RETRY_DELAYS &&
    value.every((delay) => typeof delay === 'number' && Number.isInteger(delay) && delay >= 0 && delay <= MAX_DELAY_MS);
  if (!valid) {
    problems.push(`retry_delays_ms must be a list of 1 to ${MAX_RETRY_DELAYS} integers from 0 to ${MAX_DELAY_MS} (ms), got ${show(value)}`);
    return undefined;
  }
  return value as number[];
}

function checkSchema(ajv: Ajv, value: unknown, problems: string[]): Record<string, unknown> {
  if (value === undefined) {
    problems.push('schema is required (a JSON Schema of the payload; {} accepts any payload)');
    return {};
  }
  if (!isObject(value)) {
    problems.push(`schema must be a JSON Schema object, got ${show(value)}`);
    return {};
  }
  try {
    ajv.compile(value);
  } catch (error) {
    problems.push(`schema is not a valid JSON Schema: ${describeError(error)}`);
  }
  return value;
}

function checkHttpUrl(value: unknown, problems: string[]): HandlerRef | undefined {
  const unknownKeys = isObject(value) ? Object.keys(value).filter((key) => key !== 'url') : [];
  if (!isObject(value) || typeof value.url !== 'string') {
    problems.push(`http must be { url: "http://…" }, got ${show(value)}`);
    return undefined;
  }
  if (unknownKeys.length > 0) problems.push(`http has unknown key(s) ${unknownKeys.join(', ')} (known: url)`);
  let url: URL;
  try {
    url = new URL(value.url);
  } catch {
    problems.push(`http.url is not a URL: ${show(value.url)}`);
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    problems.push(`http.url must be http:// or https://, got ${show(value.url)}`);
    return undefined;
  }
  if (url.username || url.password) {
    problems.push('http.url must not carry credentials');
    return undefined;
  }
  return { kind: 'http', url: url.href };
}

function checkHandler(entry: Entry, baseDir: string, problems: string[]): HandlerRef | undefined {
  const given = HANDLER_KEYS.filter((key) => entry[key] !== undefined);
  if (given.length !== 1) {
    problems.push(`needs exactly one handler (http, module or builtin), got ${given.length === 0 ? 'none' : given.join(' and ')}`);
    return undefined;
  }
  const value = entry[given[0]!];
  switch (given[0]) {
    case 'http':
      return checkHttpUrl(value, problems);
    case 'module':
      if (typeof value !== 'string' || value.trim() === '') {
        problems.push(`module must be the path of a JavaScript or TypeScript module, got ${show(value)}`);
        return undefined;
      }
      return { kind: 'module', path: isAbsolute(value) ? value : resolve(baseDir, value) };
    default: {
      const known = TASK_TYPES.map((spec) => spec.type);
      if (typeof value !== 'string' || !known.includes(value)) {
        problems.push(`builtin must name a built-in handler (${known.join(', ')}), got ${show(value)}`);
        return undefined;
      }
      return { kind: 'builtin', name: value };
    }
  }
}

function checkName(entry: Entry, problems: string[]): string {
  const { name } = entry;
  if (typeof name !== 'string' || !TASK_TYPE_PATTERN.test(name)) {
    problems.push(`name must be 1 to 128 letters, digits, '_' or '-', got ${show(name)}`);
    return '';
  }
  if (TASK_TYPES.some((spec) => spec.type === name)) problems.push(`name "${name}" is a built-in task type; choose another name`);
  return name;
}

/** One entry as a TaskTypeSpec, or its problems (each without the entry's label). */
function toSpec(ajv: Ajv, entry: unknown, baseDir: string): { spec?: TaskTypeSpec; problems: string[] } {
  const problems: string[] = [];
  if (!isObject(entry)) return { problems: [`must be a mapping of name, schema, timeout_ms, max_attempts and a handler, got ${show(entry)}`] };
  const unknownKeys = Object.keys(entry).filter((key) => !(ENTRY_KEYS as readonly string[]).includes(key));
  if (unknownKeys.length > 0) problems.push(`unknown key(s) ${unknownKeys.join(', ')} (known: ${ENTRY_KEYS.join(', ')})`);
  const type = checkName(entry, problems);
  if (entry.description !== undefined && typeof entry.description !== 'string') problems.push(`description must be text, got ${show(entry.description)}`);
  const payloadSchema = checkSchema(ajv, entry.schema, problems);
  const defaultTimeoutMs = checkInteger(entry, 'timeout_ms', 1, MAX_TASK_TIMEOUT_MS, problems);
  const maxAttempts = checkInteger(entry, 'max_attempts', 1, MAX_TYPE_ATTEMPTS, problems);
  const retryDelaysMs = checkRetryDelays(entry.retry_delays_ms, problems);
  const handler = checkHandler(entry, baseDir, problems);
  if (problems.length > 0 || !handler) return { problems };
  const description = typeof entry.description === 'string' ? entry.description : `${handler.kind} handler`;
  return { spec: Object.freeze({ type, description, payloadSchema, defaultTimeoutMs, maxAttempts, retryDelaysMs, handler }), problems };
}

/**
 * Parses a registry file's text. `baseDir` resolves relative module paths (the file's folder).
 * Problems name the entry (`task_types[2] "resize": timeout_ms …`) so each can be found.
 */
export function parseTaskRegistry(text: string, baseDir: string): RegistryParse {
  const document = parseDocument(text);
  if (!document.ok) return { ok: false, problems: [document.problem] };
  const root = document.value;
  if (!isObject(root) || !Array.isArray(root.task_types)) {
    return { ok: false, problems: ['must be a mapping with a task_types list at its top level'] };
  }
  const problems = Object.keys(root)
    .filter((key) => key !== 'task_types')
    .map((key) => `unknown top-level key ${key} (known: task_types)`);
  const ajv = createAjv();
  const types: TaskTypeSpec[] = [];
  const seen = new Map<string, number>();
  root.task_types.forEach((entry: unknown, index: number) => {
    const name = isObject(entry) && typeof entry.name === 'string' ? ` "${entry.name}"` : '';
    const label = `task_types[${index}]${name}`;
    const result = toSpec(ajv, entry, baseDir);
    problems.push(...result.problems.map((problem) => `${label}: ${problem}`));
    if (!result.spec) return;
    const first = seen.get(result.spec.type);
    if (first !== undefined) problems.push(`${label}: name "${result.spec.type}" is already used by task_types[${first}]`);
    seen.set(result.spec.type, first ?? index);
    types.push(result.spec);
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, types };
}

export type RegistryReader = {
  problem(message: string): void;
  string(name: string, fallback?: string): string;
};

/**
 * Every task type this component knows: the built-ins, then the file's (when TM_TASK_TYPES_FILE
 * is set). Problems go to the reader, prefixed with the variable and the file, and the built-ins
 * alone are returned, so the component reports them with its other settings and stops.
 */
export function readTaskTypes(reader: RegistryReader, readFile: (path: string) => string = (path) => readFileSync(path, 'utf8')): readonly TaskTypeSpec[] {
  const file = reader.string('TM_TASK_TYPES_FILE', '').trim();
  if (file === '') return TASK_TYPES;
  const path = resolve(file);
  let text: string;
  try {
    text = readFile(path);
  } catch (error) {
    reader.problem(`TM_TASK_TYPES_FILE: cannot read "${file}": ${describeError(error)}`);
    return TASK_TYPES;
  }
  const parsed = parseTaskRegistry(text, resolve(path, '..'));
  if (!parsed.ok) {
    for (const problem of parsed.problems) reader.problem(`TM_TASK_TYPES_FILE (${file}): ${problem}`);
    return TASK_TYPES;
  }
  return Object.freeze([...TASK_TYPES, ...parsed.types]);
}
