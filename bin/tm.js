#!/usr/bin/env node
// The `tm` command: runs the bundled client (built by `npm run build`).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const bundle = fileURLToPath(new URL('../dist/tm.cjs', import.meta.url));
if (!existsSync(bundle)) {
  process.stderr.write('tm: dist/tm.cjs is missing: run `npm run build` first\n');
  process.exit(1);
}
createRequire(import.meta.url)(bundle);
