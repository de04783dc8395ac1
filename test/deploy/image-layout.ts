// What the Dockerfile puts into the image, read from the Dockerfile itself, and a copy of that
// layout on disk (dist/ plus the pruned node_modules) so that tests can run the bundles the way
// the image runs them, without a Docker engine.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { runtimeClosure, type Lockfile } from '../../scripts/runtime-deps';

export type Instruction = { keyword: string; args: string };
export type Stage = { from: string; name?: string; instructions: Instruction[] };

/** Stages of a Dockerfile: comments dropped, continuation lines joined. */
export function parseDockerfile(text: string): Stage[] {
  const lines: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!pending && (line === '' || line.startsWith('#'))) continue;
    if (pending && line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    lines.push(`${pending}${line}`.trim());
    pending = '';
  }
  const stages: Stage[] = [];
  // ARGs before the first FROM may name its image (`ARG NODE_IMAGE=node:24-slim`, then
  // `FROM ${NODE_IMAGE}`): `from` is the image a build without --build-arg uses.
  const globalArgs = new Map<string, string>();
  for (const line of lines) {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (keyword.toUpperCase() === 'ARG' && stages.length === 0) {
      const [name = '', value = ''] = args.split('=');
      globalArgs.set(name, value);
    } else if (keyword.toUpperCase() === 'FROM') {
      const match = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      const image = (match?.[1] ?? args).replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced?: string, bare?: string) => globalArgs.get(braced ?? bare ?? '') ?? whole);
      stages.push({ from: image, ...(match?.[2] ? { name: match[2] } : {}), instructions: [] });
    } else if (stages.length > 0) {
      stages.at(-1)!.instructions.push({ keyword: keyword.toUpperCase(), args });
    }
  }
  return stages;
}

export type ImagePlan = {
  buildStage: Stage;
  finalStage: Stage;
  /** Packages whose closure stays in node_modules (`runtime-deps.ts prune /app <roots>`). */
  pruneRoots: string[];
  /** Files of dist/ the build stage deletes. */
  removedFromDist: string[];
};

export function readImagePlan(file = resolve('Dockerfile')): ImagePlan {
  const stages = parseDockerfile(readFileSync(file, 'utf8'));
  const finalStage = stages.at(-1);
  const buildStage = stages.find((stage) => stage.name === 'build');
  if (!finalStage || !buildStage) throw new Error('the Dockerfile needs a stage named build and a final stage');
  const commands = buildStage.instructions
    .filter((i) => i.keyword === 'RUN')
    .flatMap((i) => i.args.split('&&').map((part) => part.trim()));
  const prune = commands.find((c) => c.startsWith('node scripts/runtime-deps.ts prune '));
  if (!prune) throw new Error('the build stage does not run `node scripts/runtime-deps.ts prune`');
  const [, , , appDir, ...pruneRoots] = prune.split(/\s+/);
  if (appDir !== '/app') throw new Error(`runtime-deps prunes ${appDir}, not /app`);
  const removedFromDist = commands
    .filter((c) => c.startsWith('rm '))
    .flatMap((c) => c.split(/\s+/).slice(1))
    .filter((arg) => !arg.startsWith('-'));
  return { buildStage, finalStage, pruneRoots, removedFromDist };
}

/** The environment a stage's ENV instructions set (`ENV KEY=value …` and the old `ENV KEY value`). */
export function toImageEnv(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { keyword, args } of stage.instructions) {
    if (keyword !== 'ENV') continue;
    if (!args.includes('=')) {
      const [key = '', ...value] = args.split(/\s+/);
      env[key] = value.join(' ');
      continue;
    }
    for (const match of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)/g)) env[match[1]!] = match[2]!.replace(/^"(.*)"$/, '$1');
  }
  return env;
}

export type ImageLayout = { appDir: string; distDir: string; cleanup(): void };

/** A copy of /app as the image has it: dist/ from the build (minus what the Dockerfile removes)
 * and only the node_modules packages the Dockerfile keeps, copied from this checkout (npm ci
 * lays them out by the same lockfile). */
export function createImageLayout(plan: ImagePlan = readImagePlan()): ImageLayout {
  const appDir = mkdtempSync(join(tmpdir(), 'tm-image-'));
  const distDir = join(appDir, 'dist');
  cpSync(resolve('dist'), distDir, { recursive: true });
  for (const file of plan.removedFromDist) rmSync(join(appDir, file), { force: true });

  const lock = JSON.parse(readFileSync(resolve('package-lock.json'), 'utf8')) as Lockfile;
  for (const path of runtimeClosure(lock, plan.pruneRoots)) {
    const source = resolve(path);
    mkdirSync(join(appDir, path), { recursive: true });
    // Nested node_modules are copied as packages of their own, only when they are kept too.
    cpSync(source, join(appDir, path), {
      recursive: true,
      filter: (src) => !src.slice(source.length).split(sep).includes('node_modules'),
    });
  }
  return { appDir, distDir, cleanup: () => rmSync(appDir, { recursive: true, force: true }) };
}
