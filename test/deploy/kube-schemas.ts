// Validates rendered Kubernetes objects against the schemas in test/deploy/schemas/: core kinds
// against the strict standalone JSON Schemas of Kubernetes 1.32 (unknown fields rejected), custom
// resources against the openAPIV3Schema of their CRD, made strict by injecting
// `additionalProperties: false` into every object that declares its properties (CRD schemas
// accept unknown fields otherwise, so a typo would pass). A ContainerSource's `template`, which
// its CRD leaves open, is checked as the PodTemplateSpec it is.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { nameOf, type KubeObject } from './kube-manifests';
import { SCHEMAS_DIR } from './schema-files';

/** Where the tests have always taken it from (func-yaml.test.ts). */
export { SCHEMAS_DIR };

type Schema = Record<string, unknown>;

const PRESERVE_UNKNOWN = 'x-kubernetes-preserve-unknown-fields';

/** ajv 8 does not know the draft URIs these files name; the keywords they use are the same. */
export function withoutSchemaKeyword(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutSchemaKeyword);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => key !== '$schema')
      .map(([key, child]) => [key, withoutSchemaKeyword(child)]),
  );
}

/** The same schema with `additionalProperties: false` on every object that lists its properties
 * and neither allows unknown fields explicitly nor declares a map (`additionalProperties`). */
export function toStrictSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toStrictSchema);
  if (typeof schema !== 'object' || schema === null) return schema;
  const node = schema as Schema;
  const strict: Schema = {};
  for (const [key, child] of Object.entries(node)) {
    if (key === 'properties' && typeof child === 'object' && child !== null) {
      strict[key] = Object.fromEntries(Object.entries(child).map(([name, sub]) => [name, toStrictSchema(sub)]));
    } else if (['items', 'additionalProperties', 'anyOf', 'allOf', 'oneOf', 'not'].includes(key)) {
      strict[key] = toStrictSchema(child);
    } else {
      strict[key] = child;
    }
  }
  if (node.properties && node.additionalProperties === undefined && node[PRESERVE_UNKNOWN] !== true) {
    strict.additionalProperties = false;
  }
  return strict;
}

export function coreSchemaFile(apiVersion: string, kind: string): string {
  const [groupPart, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const group = (groupPart ?? '').split('.')[0];
  return `${kind.toLowerCase()}${group ? `-${group}` : ''}-${version}.json`;
}

type CrdVersion = { name: string; schema?: { openAPIV3Schema?: Schema } };
type Crd = { spec: { group: string; names: { kind: string }; versions: CrdVersion[] } };

function loadCrdSchemas(dir: string): Map<string, Schema> {
  const schemas = new Map<string, Schema>();
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.yaml'))) {
    const crd = parse(readFileSync(join(dir, file), 'utf8')) as Crd;
    for (const version of crd.spec.versions) {
      const schema = version.schema?.openAPIV3Schema;
      if (schema) schemas.set(`${crd.spec.group}/${version.name} ${crd.spec.names.kind}`, schema);
    }
  }
  return schemas;
}

export function formatErrors(errors: readonly ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((error) => {
    const where = error.instancePath || '(root)';
    if (error.keyword === 'additionalProperties') {
      return `${where}: unknown field "${(error.params as { additionalProperty: string }).additionalProperty}"`;
    }
    if (error.keyword === 'enum') {
      return `${where}: ${error.message} (${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')})`;
    }
    return `${where}: ${error.message}`;
  });
}

export type ManifestValidator = {
  /** Problems of one object, each naming the object and the path; empty when it is valid. */
  validate(object: KubeObject): string[];
  /** The kinds it can validate, as "apiVersion Kind". */
  knownKinds(): string[];
};

export function createManifestValidator(schemasDir: string = SCHEMAS_DIR): ManifestValidator {
  if (!existsSync(schemasDir)) {
    throw new Error(`schemas not found at ${schemasDir} (the repository carries them under test/deploy/schemas/)`);
  }
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  const coreDir = join(schemasDir, 'k8s');
  const crds = loadCrdSchemas(join(schemasDir, 'crds'));
  const compiled = new Map<string, ValidateFunction>();

  const readCore = (file: string) => withoutSchemaKeyword(JSON.parse(readFileSync(join(coreDir, file), 'utf8'))) as Schema;

  // The CRD leaves ContainerSource.spec.template open ("in the shape of Deployment.spec.template").
  const podTemplateSpec = () => {
    const deployment = readCore('deployment-apps-v1.json') as { properties: { spec: { properties: { template: Schema } } } };
    return deployment.properties.spec.properties.template;
  };

  // Strict from `spec` down: some CRDs do not list apiVersion, kind and metadata at the root.
  function crdSchema(key: string, kind: string): Schema {
    const schema = withoutSchemaKeyword(crds.get(key)) as { properties: Record<string, unknown> };
    const spec = toStrictSchema(schema.properties.spec) as { properties: Record<string, unknown> };
    if (kind === 'ContainerSource') spec.properties.template = podTemplateSpec();
    return { ...schema, properties: { ...schema.properties, spec } };
  }

  function validatorFor(object: KubeObject): ValidateFunction | string {
    const key = `${object.apiVersion} ${object.kind}`;
    const cached = compiled.get(key);
    if (cached) return cached;
    let schema: Schema;
    if (crds.has(key)) {
      schema = crdSchema(key, object.kind);
    } else {
      const file = coreSchemaFile(object.apiVersion, object.kind);
      if (!existsSync(join(coreDir, file))) {
        return `no schema for ${key} (neither ${join('k8s', file)} nor a CRD in crds/): use only kinds that have one`;
      }
      schema = readCore(file);
    }
    const validate = ajv.compile(schema);
    compiled.set(key, validate);
    return validate;
  }

  return {
    validate(object) {
      const validate = validatorFor(object);
      if (typeof validate === 'string') return [`${nameOf(object)}: ${validate}`];
      if (validate(object)) return [];
      return formatErrors(validate.errors).map((problem) => `${nameOf(object)} ${problem}`);
    },
    knownKinds() {
      const core = readdirSync(coreDir).filter((file) => file.endsWith('.json'));
      return [...crds.keys(), ...core];
    },
  };
}
