// The node_modules that the container image really needs. The bundles in dist/ inline every
// dependency except a few that must stay external (scripts/build.mjs: auto-instrumentation patches
// them through require hooks, or they read .proto files beside their own code). The image keeps
// only those and what they depend on, found in package-lock.json, instead of the whole production
// tree (which is mostly the OpenTelemetry SDK, already inside dist/telemetry.cjs).
//
// Runs in the Dockerfile's build stage with the image's Node 24 (type stripping, no build step):
//   node scripts/runtime-deps.ts prune <appDir> <package>...
// so this file uses only erasable TypeScript syntax and no local imports.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

type LockPackage = {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
};

export type Lockfile = { lockfileVersion?: number; packages: Record<string, LockPackage> };

const NODE_MODULES = 'node_modules/';

/** Where Node finds `name` when it is required from the package installed at `from` (a lockfile
 * path such as `node_modules/@grpc/grpc-js`, or '' for the project itself): the nearest
 * node_modules/<name> walking up, as the lockfile records the tree. */
export function resolveInLock(lock: Lockfile, from: string, name: string): string | undefined {
  let base = from;
  for (;;) {
    const candidate = `${base ? `${base}/` : ''}${NODE_MODULES}${name}`;
    if (lock.packages[candidate]) return candidate;
    if (!base) return undefined;
    const cut = base.lastIndexOf(`/${NODE_MODULES}`);
    base = cut === -1 ? '' : base.slice(0, cut);
  }
}

/** Every lockfile path needed at run time by `roots` (required from the project), sorted. Throws
 * when a root or a required dependency is missing, or is only a devDependency (then
 * `npm ci --omit=dev` would not have installed it either). */
export function runtimeClosure(lock: Lockfile, roots: readonly string[]): string[] {
  if (!lock.packages || (lock.lockfileVersion ?? 0) < 2) {
    throw new Error('package-lock.json must be lockfileVersion 2 or 3 (with "packages")');
  }
  const keep = new Set<string>();
  const visit = (from: string, name: string, optional: boolean, via: string) => {
    const path = resolveInLock(lock, from, name);
    if (!path) {
      if (optional) return;
      throw new Error(`${name} (needed by ${via}) is not in package-lock.json`);
    }
    if (keep.has(path)) return;
    const entry = lock.packages[path]!;
    if (entry.dev) throw new Error(`${name} (needed by ${via}) is a devDependency: add it to "dependencies"`);
    keep.add(path);
    const peerMeta = entry.peerDependenciesMeta ?? {};
    for (const dep of Object.keys(entry.dependencies ?? {})) visit(path, dep, false, name);
    for (const dep of Object.keys(entry.optionalDependencies ?? {})) visit(path, dep, true, name);
    for (const dep of Object.keys(entry.peerDependencies ?? {})) visit(path, dep, peerMeta[dep]?.optional === true, name);
  };
  for (const root of roots) visit('', root, false, 'the bundles');
  return [...keep].sort();
}

/** Deletes from `<appDir>/node_modules` every installed package outside the closure of `roots`. */
export function pruneNodeModules(appDir: string, roots: readonly string[]): { kept: string[]; removed: number } {
  const lock = JSON.parse(readFileSync(join(appDir, 'package-lock.json'), 'utf8')) as Lockfile;
  const kept = runtimeClosure(lock, roots);
  const keep = new Set(kept);
  let removed = 0;
  for (const path of Object.keys(lock.packages)) {
    if (!path.startsWith(NODE_MODULES) || keep.has(path)) continue;
    const dir = join(appDir, path);
    if (!existsSync(dir)) continue;
    rmSync(dir, { recursive: true, force: true });
    removed += 1;
  }
  // Links to removed packages' executables, npm's record of the full tree, emptied scopes.
  const root = join(appDir, NODE_MODULES);
  rmSync(join(root, '.bin'), { recursive: true, force: true });
  rmSync(join(root, '.package-lock.json'), { force: true });
  for (const scope of readdirSync(root).filter((entry) => entry.startsWith('@'))) {
    if (readdirSync(join(root, scope)).length === 0) rmSync(join(root, scope), { recursive: true });
  }
  const missing = kept.filter((path) => !existsSync(join(appDir, path)));
  if (missing.length > 0) throw new Error(`not installed: ${missing.join(', ')} (run npm ci first)`);
  return { kept, removed };
}

function main(argv: readonly string[]): void {
  const [command, appDir, ...roots] = argv;
  if (command !== 'prune' || !appDir || roots.length === 0) {
    throw new Error('usage: node scripts/runtime-deps.ts prune <appDir> <package>...');
  }
  const { kept, removed } = pruneNodeModules(appDir, roots);
  process.stdout.write(`runtime-deps: kept ${kept.length} packages for ${roots.join(', ')}; removed ${removed}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    main(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`runtime-deps: ${(error as Error).message}\n`);
    process.exit(1);
  }
}
