// Builds the client package (client/dist): the library as CommonJS bundles (Node's ESM imports
// them too, named exports included), its type declarations, and the proto file it loads at run
// time. Run by `npm run build` and `npm pack` in client/, with the repository's dev tools.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'dist');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { index: join(here, 'index.ts'), handler: join(here, 'handler.ts') },
  outdir: out,
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // Installed beside the package (its dependencies), so one copy serves the whole application.
  external: ['@grpc/grpc-js', '@grpc/proto-loader'],
  logLevel: 'warning',
});
// Declarations only: the bundles above are the code.
execFileSync(process.execPath, [join(here, '..', 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(here, 'tsconfig.build.json')], { stdio: 'inherit' });
// proto.ts looks for it next to the bundle first.
cpSync(join(here, '..', 'proto', 'taskmanager.proto'), join(out, 'proto', 'taskmanager.proto'));
process.stdout.write(`built the client package into ${out}\n`);
