// Fills V8's compile cache for every bundle of dist/, so that a container's first start reads its
// bundle's compiled code instead of compiling 1–2 MB of JavaScript (shared/compile-cache.ts: a
// function is ready about 30 ms sooner). The image sets NODE_COMPILE_CACHE to the directory this
// fills; a Knative scale-from-zero then starts every pod with a warm cache.
//
// Runs in the Dockerfile's build stage with the image's Node 24 (type stripping, no build step):
//   node scripts/warm-compile-cache.ts <distDir> <cacheDir>
// so this file uses only erasable TypeScript syntax and no local imports. Each bundle is loaded
// in a process of its own, as it runs (`--require telemetry.cjs`), and the process exits as soon
// as the bundle's top-level code has run: nothing it starts (a connection, a listener) gets to
// run. Node keys each entry by the file's path and content, so the bundles must stay where they
// were warmed (/app/dist in the image). The cache is made readable by every user: the image runs
// as `node`, and Node writes its entries readable by their owner only.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The bundles a process starts with: every .cjs under dist/ but the preload itself. */
export function listBundles(distDir: string): string[] {
  return readdirSync(distDir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.cjs') && file !== 'telemetry.cjs')
    .sort()
    .map((file) => join(distDir, file));
}

function makeReadable(path: string): void {
  const directory = statSync(path).isDirectory();
  chmodSync(path, directory ? 0o755 : 0o644);
  if (directory) for (const entry of readdirSync(path)) makeReadable(join(path, entry));
}

export function warmCompileCache(distDir: string, cacheDir: string): string[] {
  mkdirSync(cacheDir, { recursive: true });
  const warmed: string[] = [];
  for (const bundle of listBundles(distDir)) {
    const result = spawnSync(process.execPath, ['--require', join(distDir, 'telemetry.cjs'), '-e', `require(${JSON.stringify(bundle)}); process.exit(0)`], {
      env: { ...process.env, NODE_COMPILE_CACHE: cacheDir },
      stdio: ['ignore', 'ignore', 'pipe'],
      encoding: 'utf8',
    });
    if (result.status !== 0) throw new Error(`loading ${bundle} failed (exit ${result.status}): ${result.stderr.trim().slice(-500)}`);
    warmed.push(bundle);
  }
  makeReadable(cacheDir);
  return warmed;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [distDir, cacheDir] = process.argv.slice(2);
  if (!distDir || !cacheDir) {
    process.stderr.write('usage: node scripts/warm-compile-cache.ts <distDir> <cacheDir>\n');
    process.exit(2);
  }
  const warmed = warmCompileCache(resolve(distDir), resolve(cacheDir));
  process.stdout.write(`compile cache: ${warmed.length} bundles warmed into ${resolve(cacheDir)}\n`);
}
