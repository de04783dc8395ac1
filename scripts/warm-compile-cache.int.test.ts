// The compile cache end to end, on the real bundles: the image's build step fills it
// (scripts/warm-compile-cache.ts), and a process started as the image starts it (`--require
// telemetry.cjs <bundle>`, shared/compile-cache.ts) compiles its bundle from it. Node says so on
// stderr with NODE_DEBUG_NATIVE=COMPILE_CACHE.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { getFreePort, waitFor } from '../test/helpers/ports';
import { listBundles, warmCompileCache } from './warm-compile-cache';

const DIST = resolve('dist');
const ENRICHER = join(DIST, 'functions', 'enricher.cjs');

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((file) => join(dir, file));
}

/** Starts the enricher as the image does, once it answers its readiness probe; collects what
 * Node's compile cache says on stderr. */
async function startEnricher(env: Record<string, string>): Promise<{ stderr: () => string; stop: () => Promise<void> }> {
  const port = await getFreePort();
  // Without the cache directory this process may have been given: each test names its own.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'NODE_COMPILE_CACHE'));
  const child = spawn(process.execPath, ['--require', join(DIST, 'telemetry.cjs'), ENRICHER], {
    env: { ...inherited, PORT: String(port), NODE_DEBUG_NATIVE: 'COMPILE_CACHE', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise((done) => child.once('exit', done));
  const stop = async () => {
    child.kill('SIGTERM');
    await exited;
  };
  try {
    await waitFor('the enricher ready', async () => (await fetch(`http://127.0.0.1:${port}/health/readiness`)).ok, 10_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { stderr: () => stderr, stop };
}

const cacheEntries = (dir: string) => filesUnder(dir).filter((path) => statSync(path).isFile());
const newCacheDir = () => mkdtempSync(join(tmpdir(), 'tm-compile-cache-'));

describe('the compile cache', () => {
  let cacheDir: string;
  beforeAll(() => {
    if (!existsSync(ENRICHER)) throw new Error('dist/ is missing: run `npm run build` first');
  });
  afterEach(() => rmSync(cacheDir, { recursive: true, force: true }));

  it('is filled for every bundle, readable by the user the image runs as', () => {
    cacheDir = newCacheDir();
    const warmed = warmCompileCache(DIST, cacheDir);
    expect(warmed).toEqual(listBundles(DIST));
    expect(warmed).toContain(ENRICHER);
    expect(warmed).not.toContain(join(DIST, 'telemetry.cjs'));
    const entries = cacheEntries(cacheDir);
    expect(entries.length).toBeGreaterThanOrEqual(warmed.length);
    for (const entry of entries) expect(statSync(entry).mode & 0o044, entry).toBe(0o044);
  });

  it('is what a bundle started as the image starts it is compiled from', async () => {
    cacheDir = newCacheDir();
    warmCompileCache(DIST, cacheDir);
    const enricher = await startEnricher({ NODE_COMPILE_CACHE: cacheDir });
    await enricher.stop();
    expect(enricher.stderr()).toContain(`V8 code cache for CommonJS ${ENRICHER} was accepted`);
  });

  // Node turns the cache on by itself only when NODE_COMPILE_CACHE is set; without it, the
  // bootstrap turns it on in the system's temporary directory (TMPDIR here).
  it('is saved without NODE_COMPILE_CACHE too, in the temporary directory, for the next start (npm start restarts)', async () => {
    cacheDir = newCacheDir();
    const first = await startEnricher({ TMPDIR: cacheDir });
    await first.stop();
    expect(first.stderr()).not.toContain(`V8 code cache for CommonJS ${ENRICHER} was accepted`);
    expect(cacheEntries(join(cacheDir, 'node-compile-cache')).length).toBeGreaterThan(0);
    const second = await startEnricher({ TMPDIR: cacheDir });
    await second.stop();
    expect(second.stderr()).toContain(`V8 code cache for CommonJS ${ENRICHER} was accepted`);
  });

  it('is off with NODE_DISABLE_COMPILE_CACHE=1: nothing is saved', async () => {
    cacheDir = newCacheDir();
    const enricher = await startEnricher({ TMPDIR: cacheDir, NODE_DISABLE_COMPILE_CACHE: '1' });
    await enricher.stop();
    expect(cacheEntries(cacheDir)).toEqual([]);
  });
});
