// Where the deploy tests find the schemas they validate against: test/deploy/schemas/, carried in
// the repository (each folder's SOURCES.txt says where its files came from and under which
// licence). Resolved from this file, not from the working directory, so the tests find them
// whichever folder vitest is started from.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SCHEMAS_DIR = fileURLToPath(new URL('./schemas/', import.meta.url));

/** A file under test/deploy/schemas/, e.g. schemaFile('compose', 'compose-spec.json'). */
export function schemaFile(...parts: string[]): string {
  return join(SCHEMAS_DIR, ...parts);
}
