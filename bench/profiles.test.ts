import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { CpuProfile } from './cpuprofile';
import { createSourceMapResolver, readProfiles, toProfileArgs } from './profiles';

const root = mkdtempSync(join(tmpdir(), 'tm-bench-profiles-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// dist/app.cjs maps its line 1 to src/a.ts line 1 and its line 2 to src/a.ts line 2.
mkdirSync(join(root, 'dist'));
writeFileSync(join(root, 'dist/app.cjs'), 'a();\nb();\n');
writeFileSync(join(root, 'dist/app.cjs.map'), JSON.stringify({ version: 3, sources: ['../src/a.ts'], names: [], mappings: 'AAAA;AACA' }));
const bundleUrl = pathToFileURL(join(root, 'dist/app.cjs')).href;

describe('profiles on disk', () => {
  it('the node arguments name a directory per phase and process, and none without BENCH_PROFILE', () => {
    expect(toProfileArgs('/tmp/p', 'burst', 'worker')).toEqual(['--cpu-prof', '--cpu-prof-dir=/tmp/p/burst/worker']);
    expect(toProfileArgs(undefined, 'burst', 'worker')).toEqual([]);
  });

  it('a bundle frame is placed in its TypeScript source through the map; Node internals stay as they are', () => {
    const resolve = createSourceMapResolver(root);
    expect(resolve({ functionName: 'b', url: bundleUrl, lineNumber: 1, columnNumber: 0 })).toEqual({ file: 'src/a.ts', line: 2 });
    expect(resolve({ functionName: 'x', url: 'node:net', lineNumber: 9, columnNumber: 0 })).toEqual({ file: 'node:net', line: 10 });
  });

  it('every profile of a process is read and summarized under its phase', () => {
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1, columnNumber: -1 }, children: [2] },
        { id: 2, callFrame: { functionName: 'b', url: bundleUrl, lineNumber: 1, columnNumber: 0 } },
      ],
      startTime: 0,
      endTime: 2_000,
      samples: [2],
      timeDeltas: [0],
    };
    mkdirSync(join(root, 'profiles/throughput/worker'), { recursive: true });
    writeFileSync(join(root, 'profiles/throughput/worker/CPU.1.cpuprofile'), JSON.stringify(profile));
    writeFileSync(join(root, 'profiles/throughput/worker/CPU.2.cpuprofile'), JSON.stringify(profile));
    const [read, ...rest] = readProfiles(join(root, 'profiles'), root);
    expect(rest).toEqual([]);
    expect(read).toMatchObject({ phase: 'throughput', process: 'worker', summary: { profiles: 2, busyMs: 4 } });
    expect(read!.summary.functions).toEqual([{ functionName: 'b', file: 'src/a.ts', line: 2, selfMs: 4 }]);
  });
});
