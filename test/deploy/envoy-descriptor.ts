// Checks an Envoy configuration (parsed YAML/JSON) field by field against the protobuf descriptor
// of the Envoy v3 API (test/deploy/schemas/envoy/, see its SOURCES.txt), the way Envoy's own loader
// reads it: proto3 JSON mapping (original or lowerCamel field names), enum names, well-known types
// (Duration strings, Struct, wrappers, Any with "@type"), every typed_config resolved and checked
// recursively. It also applies the protoc-gen-validate rules Envoy enforces most often (required
// messages and oneofs, non-empty strings, list sizes, numeric bounds) and reports deprecated
// fields separately. Pure: takes a protobufjs Root and a value, returns findings.
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { schemaFile } from './schema-files';

export type Finding = { path: string; message: string };
export type EnvoyCheck = { errors: Finding[]; deprecated: Finding[] };

export const ENVOY_DESCRIPTOR = schemaFile('envoy', 'envoy-v3-api.protobufjs.json');
export const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';

export function loadEnvoyRoot(file = ENVOY_DESCRIPTOR): protobuf.Root {
  const root = protobuf.Root.fromJSON(JSON.parse(readFileSync(file, 'utf8')));
  root.resolveAll();
  return root;
}

type Json = unknown;
type Context = { root: protobuf.Root; errors: Finding[]; deprecated: Finding[] };
type Options = Record<string, unknown>;

const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };
const UINT32 = { min: 0, max: 2 ** 32 - 1 };
const INT_RANGES: Record<string, { min: number; max: number } | undefined> = {
  int32: INT32,
  sint32: INT32,
  sfixed32: INT32,
  uint32: UINT32,
  fixed32: UINT32,
  int64: { min: -Infinity, max: Infinity },
  sint64: { min: -Infinity, max: Infinity },
  sfixed64: { min: -Infinity, max: Infinity },
  uint64: { min: 0, max: Infinity },
  fixed64: { min: 0, max: Infinity },
};

const WRAPPERS: Record<string, string> = {
  'google.protobuf.DoubleValue': 'double',
  'google.protobuf.FloatValue': 'float',
  'google.protobuf.Int64Value': 'int64',
  'google.protobuf.UInt64Value': 'uint64',
  'google.protobuf.Int32Value': 'int32',
  'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.BoolValue': 'bool',
  'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
};

/** Well-known types whose JSON form is not an object of their fields. */
const SPECIAL_JSON = new Set([
  'google.protobuf.Duration',
  'google.protobuf.Timestamp',
  'google.protobuf.FieldMask',
  'google.protobuf.Struct',
  'google.protobuf.Value',
  'google.protobuf.ListValue',
  ...Object.keys(WRAPPERS),
]);

const DURATION = /^-?\d+(\.\d{1,9})?s$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

function fullName(type: protobuf.ReflectionObject): string {
  return type.fullName.replace(/^\./, '');
}

function isObject(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function jsonName(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function describe(value: Json): string {
  return Array.isArray(value) ? 'a list' : value === null ? 'null' : typeof value === 'object' ? 'an object' : JSON.stringify(value);
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j += 1) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

function suggestion(type: protobuf.Type, key: string): string {
  const close = type.fieldsArray.map((f) => f.name).filter((name) => distance(name, key) <= 2);
  return close.length > 0 ? ` (did you mean ${close.join(' or ')}?)` : '';
}

function fieldFor(type: protobuf.Type, key: string): protobuf.Field | undefined {
  return type.fields[key] ?? type.fieldsArray.find((field) => jsonName(field.name) === key);
}

function rule(options: Options | undefined, kind: string, name: string): unknown {
  return options?.[`(validate.rules).${kind}.${name}`];
}

function checkNumber(field: protobuf.Field, kind: string, value: Json, path: string, ctx: Context): number | undefined {
  const range = INT_RANGES[kind];
  let number: number;
  if (typeof value === 'number') number = value;
  else if (typeof value === 'string' && (range ? /^-?\d+$/.test(value) : /^-?\d+(\.\d+)?([eE][-+]?\d+)?$|^-?Infinity$|^NaN$/.test(value))) number = Number(value);
  else {
    ctx.errors.push({ path, message: `expected a ${kind} number, got ${describe(value)}` });
    return undefined;
  }
  if (range && (!Number.isInteger(number) || number < range.min || number > range.max)) {
    ctx.errors.push({ path, message: `${value} is not a valid ${kind}` });
    return undefined;
  }
  const bounds: Array<[string, (limit: number) => boolean]> = [
    ['gt', (limit) => number > limit],
    ['gte', (limit) => number >= limit],
    ['lt', (limit) => number < limit],
    ['lte', (limit) => number <= limit],
  ];
  for (const [op, ok] of bounds) {
    const limit = rule(field.options, kind, op);
    if (typeof limit === 'number' && !ok(limit)) ctx.errors.push({ path, message: `${value} must be ${op} ${limit}` });
  }
  return number;
}

function checkScalar(field: protobuf.Field, kind: string, value: Json, path: string, ctx: Context): void {
  if (kind === 'string') {
    if (typeof value !== 'string') {
      ctx.errors.push({ path, message: `expected a string, got ${describe(value)}` });
      return;
    }
    const minLen = rule(field.options, 'string', 'min_len');
    if (typeof minLen === 'number' && value.length < minLen) ctx.errors.push({ path, message: `must have at least ${minLen} characters` });
    return;
  }
  if (kind === 'bool') {
    if (typeof value !== 'boolean') ctx.errors.push({ path, message: `expected true or false, got ${describe(value)}` });
    return;
  }
  if (kind === 'bytes') {
    if (typeof value !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) ctx.errors.push({ path, message: 'expected base64 bytes' });
    return;
  }
  checkNumber(field, kind, value, path, ctx);
}

function checkEnum(type: protobuf.Enum, value: Json, path: string, ctx: Context): void {
  const names = Object.keys(type.values);
  if (typeof value === 'string' && names.includes(value)) return;
  if (typeof value === 'number' && Object.values(type.values).includes(value)) return;
  ctx.errors.push({ path, message: `${describe(value)} is not a value of ${fullName(type)} (one of ${names.join(', ')})` });
}

function checkSpecial(name: string, field: protobuf.Field, value: Json, path: string, ctx: Context): void {
  const wrapped = WRAPPERS[name];
  if (wrapped) return checkScalar(field, wrapped, value, path, ctx);
  const fail = (expected: string) => ctx.errors.push({ path, message: `expected ${expected} (${name}), got ${describe(value)}` });
  if (name === 'google.protobuf.Duration') {
    if (typeof value !== 'string' || !DURATION.test(value)) fail('a duration such as "5s" or "0.250s"');
  } else if (name === 'google.protobuf.Timestamp') {
    if (typeof value !== 'string' || !TIMESTAMP.test(value)) fail('an RFC 3339 timestamp');
  } else if (name === 'google.protobuf.FieldMask') {
    if (typeof value !== 'string') fail('a comma-separated field mask');
  } else if (name === 'google.protobuf.Struct') {
    if (!isObject(value)) fail('an object');
  } else if (name === 'google.protobuf.ListValue') {
    if (!Array.isArray(value)) fail('a list');
  }
  // google.protobuf.Value: any JSON value.
}

function checkAny(value: Json, path: string, ctx: Context): void {
  if (!isObject(value)) {
    ctx.errors.push({ path, message: `expected an object with "@type", got ${describe(value)}` });
    return;
  }
  const typeUrl = value['@type'];
  if (typeof typeUrl !== 'string' || !typeUrl.includes('/')) {
    ctx.errors.push({ path, message: '"@type" must be a type URL such as type.googleapis.com/<message>' });
    return;
  }
  const name = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  const target = ctx.root.lookup(name);
  if (!(target instanceof protobuf.Type)) {
    ctx.errors.push({ path: `${path}.@type`, message: `${name} is not a message of the Envoy v3 API` });
    return;
  }
  const { ['@type']: _type, ...rest } = value;
  if (SPECIAL_JSON.has(name)) {
    // {"@type": ".../google.protobuf.Duration", "value": "5s"}
    for (const key of Object.keys(rest).filter((k) => k !== 'value')) {
      ctx.errors.push({ path: `${path}.${key}`, message: `unknown field of an Any holding ${name} (only "value")` });
    }
    checkSpecial(name, new protobuf.Field('value', 1, 'string'), rest.value, `${path}.value`, ctx);
    return;
  }
  checkMessage(target, rest, path, ctx);
}

function checkValue(field: protobuf.Field, value: Json, path: string, ctx: Context): void {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum) return checkEnum(resolved, value, path, ctx);
  if (resolved instanceof protobuf.Type) {
    const name = fullName(resolved);
    if (name === 'google.protobuf.Any') return checkAny(value, path, ctx);
    if (SPECIAL_JSON.has(name)) return checkSpecial(name, field, value, path, ctx);
    return checkMessage(resolved, value, path, ctx);
  }
  checkScalar(field, field.type, value, path, ctx);
}

function checkField(field: protobuf.Field, value: Json, path: string, ctx: Context): void {
  if (field instanceof protobuf.MapField) {
    if (!isObject(value)) {
      ctx.errors.push({ path, message: `expected a map (object), got ${describe(value)}` });
      return;
    }
    for (const [key, item] of Object.entries(value)) checkValue(field, item, `${path}.${key}`, ctx);
    return;
  }
  if (field.repeated) {
    if (!Array.isArray(value)) {
      ctx.errors.push({ path, message: `expected a list, got ${describe(value)}` });
      return;
    }
    const minItems = rule(field.options, 'repeated', 'min_items');
    if (typeof minItems === 'number' && value.length < minItems) ctx.errors.push({ path, message: `needs at least ${minItems} item(s)` });
    value.forEach((item, index) => checkValue(field, item, `${path}[${index}]`, ctx));
    return;
  }
  checkValue(field, value, path, ctx);
}

function isRequired(field: protobuf.Field): boolean {
  // A member of a oneof is checked only when it is the one chosen (the oneof's own rule below).
  if (field.partOf) return false;
  const options = field.options as Options | undefined;
  if (options?.['(validate.rules).message.required'] === true) return true;
  if (field.repeated) return typeof rule(options, 'repeated', 'min_items') === 'number';
  const minLen = rule(options, 'string', 'min_len');
  return typeof minLen === 'number' && minLen > 0 && rule(options, 'string', 'ignore_empty') !== true;
}

function checkMessage(type: protobuf.Type, value: Json, path: string, ctx: Context): void {
  if (!isObject(value)) {
    ctx.errors.push({ path, message: `expected an object (${fullName(type)}), got ${describe(value)}` });
    return;
  }
  const present = new Set<string>();
  const oneofChoice = new Map<string, string>();
  for (const [key, item] of Object.entries(value)) {
    const at = path ? `${path}.${key}` : key;
    const field = fieldFor(type, key);
    if (!field) {
      ctx.errors.push({ path: at, message: `unknown field of ${fullName(type)}${suggestion(type, key)}` });
      continue;
    }
    present.add(field.name);
    if ((field.options as Options | undefined)?.deprecated === true) {
      ctx.deprecated.push({ path: at, message: `${fullName(type)}.${field.name} is deprecated` });
    }
    if (field.partOf) {
      const chosen = oneofChoice.get(field.partOf.name);
      if (chosen) ctx.errors.push({ path: at, message: `${chosen} and ${field.name} are alternatives (oneof ${field.partOf.name}): set one` });
      oneofChoice.set(field.partOf.name, field.name);
    }
    if (item === null) continue; // JSON null leaves a field unset
    checkField(field, item, at, ctx);
  }
  for (const field of type.fieldsArray) {
    if (!present.has(field.name) && isRequired(field)) {
      ctx.errors.push({ path: path || '(root)', message: `${field.name} is required in ${fullName(type)}` });
    }
  }
  for (const oneof of type.oneofsArray) {
    if ((oneof.options as Options | undefined)?.['(validate.required)'] === true && !oneofChoice.has(oneof.name)) {
      ctx.errors.push({ path: path || '(root)', message: `one of ${oneof.oneof.join(', ')} is required in ${fullName(type)}` });
    }
  }
}

/** Checks `config` as a message of `typeName` (the bootstrap by default). */
export function checkEnvoyConfig(root: protobuf.Root, config: unknown, typeName = BOOTSTRAP): EnvoyCheck {
  const ctx: Context = { root, errors: [], deprecated: [] };
  checkMessage(root.lookupType(typeName), config, '', ctx);
  return { errors: ctx.errors, deprecated: ctx.deprecated };
}

/** Seconds of a proto3 JSON Duration ("3900s", "0.5s"). */
export function durationSeconds(value: unknown): number {
  if (typeof value !== 'string' || !DURATION.test(value)) throw new Error(`not a duration: ${String(value)}`);
  return Number(value.slice(0, -1));
}
