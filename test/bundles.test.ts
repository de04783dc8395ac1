// What scripts/build.mjs leaves in dist/, checked on the real build output.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const DIST = resolve('dist');
/** Loads a built bundle as node runs it. */
const load = createRequire(import.meta.url);

describe('the bundles in dist/', () => {
  it('are ASCII only, so V8 keeps each one\'s source as a one-byte string (a two-byte one takes twice the memory)', () => {
    if (!existsSync(join(DIST, 'gateway.cjs'))) throw new Error('dist/ is missing: run `npm run build` first');
    const bundles = readdirSync(DIST, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.cjs'));
    expect(bundles).toContain('gateway.cjs');
    expect(bundles).toContain(join('functions', 'worker.cjs'));
    const nonAscii = bundles.flatMap((file) => {
      const at = readFileSync(join(DIST, file), 'utf8').search(/[\u0080-\uffff]/);
      return at < 0 ? [] : [`${file} at character ${at}`];
    });
    expect(nonAscii).toEqual([]);
  });

  it('leave ajv and yaml out of the bundles that use them: they are required from dist/vendor/ on first use', () => {
    for (const [bundle, vendor] of [
      [join('functions', 'ingest.cjs'), '../vendor/'],
      [join('functions', 'worker.cjs'), '../vendor/'],
      ['gateway.cjs', './vendor/'],
    ] as const) {
      const text = readFileSync(join(DIST, bundle), 'utf8');
      expect(text, bundle).not.toMatch(/^\/\/ node_modules\/(ajv|yaml)\//m);
      expect(text, bundle).toContain(`require("${vendor}ajv.cjs")`);
      expect(text, bundle).toContain(`require("${vendor}yaml.cjs")`);
    }
    // Each vendored library exports what lazy-modules.ts takes from it.
    const ajv = load(join(DIST, 'vendor', 'ajv.cjs')) as { Ajv: new (options: object) => { compile(schema: object): (data: unknown) => boolean } };
    expect(new ajv.Ajv({ allErrors: true }).compile({ type: 'integer' })(3)).toBe(true);
    const yaml = load(join(DIST, 'vendor', 'yaml.cjs')) as { parse(text: string): unknown };
    expect(yaml.parse('a: [1, 2]')).toEqual({ a: [1, 2] });
  });
});
