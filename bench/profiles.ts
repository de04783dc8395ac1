// BENCH_PROFILE: every node process a phase starts writes a V8 CPU profile under
// <dir>/<phase>/<process>/ when it exits (cleanly: `--cpu-prof` writes on exit, not on SIGKILL).
// This module gives the node arguments for that and reads the profiles back, placing each
// function in its TypeScript source through the bundles' source maps.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  parseCpuProfile,
  rawLocation,
  summarizeProfiles,
  type CallFrame,
  type Location,
  type ProfileSummary,
  type ResolveLocation,
  type TimeWindow,
} from './cpuprofile';

/** Now on the profiles' clock (CLOCK_MONOTONIC, µs), to mark a phase's measured window. */
export function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export function toProfileArgs(profileDir: string | undefined, phase: string, processName: string): string[] {
  if (profileDir === undefined) return [];
  return ['--cpu-prof', `--cpu-prof-dir=${resolve(profileDir, phase, processName)}`];
}

/** Places a bundle's frame at its TypeScript source (repository-relative) through `<bundle>.map`;
 * frames of Node's own modules, or of files without a map, stay where they are. */
export function createSourceMapResolver(root: string): ResolveLocation {
  const maps = new Map<string, { map: SourceMap; dir: string } | undefined>();
  const mapOf = (url: string) => {
    if (!maps.has(url)) {
      const file = fileURLToPath(url);
      const mapFile = `${file}.map`;
      maps.set(url, existsSync(mapFile) ? { map: new SourceMap(JSON.parse(readFileSync(mapFile, 'utf8'))), dir: dirname(mapFile) } : undefined);
    }
    return maps.get(url);
  };
  return (frame: CallFrame): Location => {
    if (!frame.url.startsWith('file://')) return rawLocation(frame);
    const found = mapOf(frame.url);
    const entry = found?.map.findEntry(frame.lineNumber, frame.columnNumber) as { originalSource?: string; originalLine?: number } | undefined;
    if (!found || !entry?.originalSource || entry.originalLine === undefined) {
      return { file: relative(root, fileURLToPath(frame.url)), line: frame.lineNumber + 1 };
    }
    const source = entry.originalSource.startsWith('file://') ? fileURLToPath(entry.originalSource) : resolve(found.dir, entry.originalSource);
    return { file: relative(root, source), line: entry.originalLine + 1 };
  };
}

export type ProcessProfile = { phase: string; process: string; window?: TimeWindow; summary: ProfileSummary };

/** Every <dir>/<phase>/<process>/*.cpuprofile, summarized per phase and process; a phase with a
 * window (its measured run) counts only the samples inside it, leaving out start-up and warm-up. */
export function readProfiles(profileDir: string, root: string, windows: ReadonlyMap<string, TimeWindow> = new Map()): ProcessProfile[] {
  const resolveLocation = createSourceMapResolver(root);
  const subdirs = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((name) => statSync(join(dir, name)).isDirectory()).sort() : []);
  return subdirs(profileDir).flatMap((phase) =>
    subdirs(join(profileDir, phase)).flatMap((process) => {
      const dir = join(profileDir, phase, process);
      const files = readdirSync(dir).filter((name) => name.endsWith('.cpuprofile'));
      if (files.length === 0) return [];
      const profiles = files.map((name) => parseCpuProfile(readFileSync(join(dir, name), 'utf8')));
      const window = windows.get(phase);
      return [{ phase, process, ...(window ? { window } : {}), summary: summarizeProfiles(profiles, resolveLocation, window) }];
    }),
  );
}
