// The Dockerfile and .dockerignore, offline: two Node 24 stages, a non-root final image holding
// only dist/ and the node_modules the bundles leave external, and a build context that carries
// every input of the build. scripts/runtime-deps.ts (the pruning) is tested on the real lockfile
// and on a small fake tree.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pruneNodeModules, resolveInLock, runtimeClosure, type Lockfile } from '../../scripts/runtime-deps';
import { loadCompose } from './compose-drift';
import { NODE_MALLOC_ARENA_MAX, NODE_MEMORY_OPTIONS } from '../../shared/topology';
import { readImagePlan, toImageEnv } from './image-layout';

const plan = readImagePlan();
const packageJson = JSON.parse(readFileSync(resolve('package.json'), 'utf8')) as {
  engines: { node: string };
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const lock = JSON.parse(readFileSync(resolve('package-lock.json'), 'utf8')) as Lockfile;
const args = (keyword: string, stage = plan.finalStage) => stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);

/** The `external` list of scripts/build.mjs: modules the bundles require at run time. */
function bundleExternals(): string[] {
  const source = readFileSync(resolve('scripts/build.mjs'), 'utf8');
  const list = /external:\s*\[([^\]]*)\]/.exec(source)?.[1];
  if (!list) throw new Error('scripts/build.mjs has no `external: [...]`');
  return [...list.matchAll(/'([^']+)'/g)].map((m) => m[1]!);
}

describe('Dockerfile', () => {
  const nodeMajor = /(\d+)/.exec(packageJson.engines.node)?.[1];

  it('builds and runs on the Node LTS major the project pins, slim images', () => {
    expect(nodeMajor).toBe('24');
    expect(plan.buildStage.from).toBe(`node:${nodeMajor}-slim`);
    expect(plan.finalStage.from).toBe(`node:${nodeMajor}-slim`);
  });

  it('installs with the lockfile without install scripts, then builds with npm run build', () => {
    const runs = args('RUN', plan.buildStage).join(' && ');
    expect(runs).toContain('npm ci --ignore-scripts');
    expect(runs).toContain('npm run build');
    // The build's `node` must be the image's: with --ignore-scripts the `node` devDependency
    // never installs its binary, so node_modules/.bin has no `node` to shadow it.
    expect(packageJson.devDependencies.node).toBeDefined();
  });

  it('runs as the non-root node user in /app, with only dist/ and node_modules from the build', () => {
    expect(args('USER')).toEqual(['node']);
    expect(args('WORKDIR')).toEqual(['/app']);
    expect(args('COPY').sort()).toEqual(['--from=build /app/dist ./dist', '--from=build /app/node_modules ./node_modules']);
  });

  it('keeps in node_modules exactly the production packages that the bundles leave external', () => {
    const runtime = bundleExternals().filter((name) => name in packageJson.dependencies);
    expect(plan.pruneRoots.sort()).toEqual(runtime.sort());
  });

  it('ships no bundle that requires an external the image lacks (bullmq is for the benchmark)', () => {
    if (!existsSync(resolve('dist/telemetry.cjs'))) throw new Error('dist/ is missing: run `npm run build` first');
    const absent = bundleExternals().filter((name) => !(name in packageJson.dependencies));
    const shipped = readdirSync(resolve('dist'), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.cjs') && !plan.removedFromDist.includes(`dist/${file}`));
    expect(shipped).toContain('gateway.cjs');
    for (const file of shipped) {
      const text = readFileSync(resolve('dist', file), 'utf8');
      for (const name of absent) expect(text.includes(`require("${name}")`), `${file} requires ${name}`).toBe(false);
    }
  });

  it('makes every process listen on all interfaces in a container (the code alone binds 127.0.0.1)', () => {
    // compose, Kubernetes probes and Services reach a container at its own address.
    expect(toImageEnv(plan.finalStage)).toMatchObject({ NODE_ENV: 'production', HOST: '0.0.0.0' });
  });

  it('runs every process with the heap and malloc settings that keep its memory bounded, as the local stack does', () => {
    expect(toImageEnv(plan.finalStage).NODE_OPTIONS).toBe(NODE_MEMORY_OPTIONS);
    expect(toImageEnv(plan.finalStage).MALLOC_ARENA_MAX).toBe(NODE_MALLOC_ARENA_MAX);
  });

  it('fills the compile cache last, for the bundles where they run, and starts every process from it', () => {
    // Last: after the bundles are built and pruned, so the cache holds what the image runs; under
    // /app/dist, so the final stage's COPY of dist/ carries it (shared/compile-cache.ts).
    const commands = args('RUN', plan.buildStage).flatMap((run) => run.split('&&').map((part) => part.trim()));
    const warm = commands.at(-1)?.split(/\s+/) ?? [];
    expect(warm.slice(0, 3)).toEqual(['node', 'scripts/warm-compile-cache.ts', '/app/dist']);
    expect(warm[3]).toMatch(/^\/app\/dist\/[\w.-]+$/);
    expect(toImageEnv(plan.finalStage).NODE_COMPILE_CACHE).toBe(warm[3]);
  });

  it('reads ENV in both of its forms', () => {
    const stage = { from: 'x', instructions: [{ keyword: 'ENV', args: 'A=1 B="two words"' }, { keyword: 'ENV', args: 'C three four' }] };
    expect(toImageEnv(stage)).toEqual({ A: '1', B: 'two words', C: 'three four' });
  });

  it('starts the gateway by default with the command compose uses for it', () => {
    const compose = loadCompose(resolve('docker-compose.yml'));
    expect(JSON.parse(args('CMD')[0]!)).toEqual(compose.services.gateway?.command);
  });
});

describe('.dockerignore', () => {
  const patterns = readFileSync(resolve('.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const toRegex = (pattern: string) =>
    new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*\//g, '(.*/)?').replace(/\*/g, '[^/]*')}(/.*)?$`);
  const ignored = (path: string) => patterns.some((p) => toRegex(p).test(path));

  it('leaves out installed and built trees, tests and deployment files', () => {
    for (const path of ['node_modules', 'dist', '.git', 'test/deploy/compose.test.ts', 'gateway/gateway.int.test.ts', 'k8s/x.yaml']) {
      expect(ignored(path), path).toBe(true);
    }
  });

  it('keeps every input of npm ci and npm run build', () => {
    const inputs = ['package.json', 'package-lock.json', 'tsconfig.json', 'scripts/build.mjs', 'scripts/runtime-deps.ts'];
    for (const dir of ['proto', 'shared', 'functions', 'source', 'gateway', 'client', 'scripts']) {
      for (const entry of readdirSync(resolve(dir), { recursive: true, withFileTypes: true })) {
        if (entry.isFile() && !entry.name.endsWith('.test.ts')) inputs.push(join(entry.parentPath, entry.name).slice(resolve('.').length + 1));
      }
    }
    expect(inputs.filter((path) => ignored(path) && !path.includes('test-support'))).toEqual([]);
  });
});

describe('scripts/runtime-deps.ts', () => {
  it('keeps the externals and their dependencies, never a devDependency', () => {
    const kept = runtimeClosure(lock, plan.pruneRoots);
    for (const root of plan.pruneRoots) expect(kept).toContain(`node_modules/${root}`);
    expect(kept).toContain('node_modules/@grpc/proto-loader'); // needed by @grpc/reflection
    expect(kept.filter((path) => lock.packages[path]?.dev)).toEqual([]);
    // The bundled SDK is not shipped twice.
    expect(kept.filter((path) => path.includes('@opentelemetry/'))).toEqual([]);
  });

  it('names a root that is only a devDependency or not installed at all', () => {
    expect(() => runtimeClosure(lock, ['bullmq'])).toThrow('bullmq (needed by the bundles) is a devDependency');
    expect(() => runtimeClosure(lock, ['no-such-package'])).toThrow('no-such-package (needed by the bundles) is not in package-lock.json');
  });

  it('resolves a dependency the way Node does: nearest node_modules first', () => {
    const fake: Lockfile = {
      lockfileVersion: 3,
      packages: {
        '': {},
        'node_modules/a': { dependencies: { b: '1' } },
        'node_modules/a/node_modules/b': {},
        'node_modules/b': {},
        'node_modules/@s/c': { dependencies: { b: '2' } },
      },
    };
    expect(resolveInLock(fake, 'node_modules/a', 'b')).toBe('node_modules/a/node_modules/b');
    expect(resolveInLock(fake, 'node_modules/@s/c', 'b')).toBe('node_modules/b');
    expect(resolveInLock(fake, '', 'missing')).toBeUndefined();
  });

  describe('prune', () => {
    let dir = '';
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('deletes every package outside the closure, the .bin links and emptied scopes', () => {
      dir = mkdtempSync(join(tmpdir(), 'tm-prune-'));
      const fake: Lockfile = {
        lockfileVersion: 3,
        packages: {
          '': {},
          'node_modules/keep': { dependencies: { dep: '1', '@s/peer': '1' } },
          'node_modules/dep': {},
          'node_modules/@s/peer': {},
          'node_modules/drop': { dependencies: { dep: '1' } },
          'node_modules/@t/drop': {},
          'node_modules/tool': { dev: true },
        },
      };
      writeFileSync(join(dir, 'package-lock.json'), JSON.stringify(fake));
      for (const path of Object.keys(fake.packages).filter(Boolean)) mkdirSync(join(dir, path), { recursive: true });
      mkdirSync(join(dir, 'node_modules/.bin'));

      const { kept, removed } = pruneNodeModules(dir, ['keep']);
      expect(kept).toEqual(['node_modules/@s/peer', 'node_modules/dep', 'node_modules/keep']);
      expect(removed).toBe(3);
      expect(readdirSync(join(dir, 'node_modules')).sort()).toEqual(['@s', 'dep', 'keep']);
      expect(existsSync(join(dir, 'node_modules/@t'))).toBe(false);
    });
  });
});
