// Before the container tests: Docker's tools (apt-get where missing), a Docker engine (started
// here when none runs, and then stopped at the end) and the local base images (built when absent).
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { ensureBaseImages } from './base-images';
import { ensureEngine, installMissingTools, type Engine } from './docker-host';

const ARTIFACTS = resolve('test-artifacts/containers');

function log(line: string): void {
  process.stderr.write(`containers: ${line}\n`);
}

let engine: Engine | undefined;

export async function setup(): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await installMissingTools(log);
  engine = await ensureEngine(resolve(ARTIFACTS, 'dockerd.log'), log);
  const started = Date.now();
  await ensureBaseImages(log);
  log(`base images ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

export async function teardown(): Promise<void> {
  if (engine?.started) log('stopping the dockerd this run started');
  await engine?.stop();
}
