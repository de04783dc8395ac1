// What scripts/build.mjs leaves in dist/, checked on the real build output.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const DIST = resolve('dist');

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
});
