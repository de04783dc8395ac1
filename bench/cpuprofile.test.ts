import { describe, expect, it } from 'vitest';
import { parseCpuProfile, summarizeProfiles, toArea, toSelfTimes, type CallFrame, type CpuProfile } from './cpuprofile';

const frame = (functionName: string, url = '', lineNumber = -1): CallFrame => ({ functionName, url, lineNumber, columnNumber: 0, scriptId: '0' });

/** A tiny profile as node --cpu-prof writes it: root → main → { parse, send }, plus idle and GC. */
const PROFILE: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('(root)'), hitCount: 0, children: [2, 5, 6] },
    { id: 2, callFrame: frame('main', 'file:///app/dist/source.cjs', 9), hitCount: 1, children: [3, 4] },
    { id: 3, callFrame: frame('parse', 'file:///app/dist/source.cjs', 19), hitCount: 2 },
    { id: 4, callFrame: frame('', 'node:net', 99), hitCount: 1 },
    { id: 5, callFrame: frame('(idle)'), hitCount: 1 },
    { id: 6, callFrame: frame('(garbage collector)'), hitCount: 1 },
  ],
  startTime: 1_000,
  endTime: 8_000,
  // Sample times: 2000, 3000, 4000, 5000, 6500, 7000; each lasts until the next, the last until endTime.
  samples: [3, 3, 2, 4, 5, 6],
  timeDeltas: [1_000, 1_000, 1_000, 1_000, 1_500, 500],
};

describe('the CPU profile reader', () => {
  it('gives each sample the time until the next one, and the last one the time until the end', () => {
    expect(Object.fromEntries(toSelfTimes(PROFILE))).toEqual({ 3: 2_000, 2: 1_000, 4: 1_500, 5: 500, 6: 1_000 });
  });

  it('without samples, shares the duration out by hit count', () => {
    const { samples: _s, timeDeltas: _t, ...hitsOnly } = PROFILE;
    // 6 hits over 7,000 µs.
    expect(toSelfTimes(hitsOnly).get(3)).toBeCloseTo((2 * 7_000) / 6);
  });

  it('sums self time per function over several profiles, leaves idle out of the busy time and names anonymous functions', () => {
    const summary = summarizeProfiles([PROFILE, PROFILE]);
    expect(summary).toMatchObject({ profiles: 2, totalMs: 12, idleMs: 1, busyMs: 11 });
    expect(summary.functions).toEqual([
      { functionName: 'parse', file: '/app/dist/source.cjs', line: 20, selfMs: 4 },
      { functionName: '(anonymous)', file: 'node:net', line: 100, selfMs: 3 },
      { functionName: 'main', file: '/app/dist/source.cjs', line: 10, selfMs: 2 },
      { functionName: '(garbage collector)', file: '', line: 0, selfMs: 2 },
    ]);
  });

  it('places functions through the resolver it is given (source maps), merging what maps to one place', () => {
    const summary = summarizeProfiles([PROFILE], (f) => ({ file: f.url.startsWith('file:') ? 'source/pull.ts' : f.url, line: 7 }));
    expect(summary.functions.filter((f) => f.file === 'source/pull.ts').map((f) => f.functionName)).toEqual(['parse', 'main']);
  });

  it('refuses a file that is not a profile', () => {
    expect(() => parseCpuProfile('{"traceEvents": []}')).toThrow(/not a V8 CPU profile/);
    expect(parseCpuProfile(JSON.stringify(PROFILE)).nodes).toHaveLength(6);
  });
});

describe('the CPU profile reader, cut to a window', () => {
  it('counts only the samples taken inside the window (the measured run, not start-up)', () => {
    // Samples at 2000, 3000, 4000, 5000, 6500, 7000: the window [3000, 5000) holds the 2nd and 3rd.
    expect(Object.fromEntries(toSelfTimes(PROFILE, { startUs: 3_000, endUs: 5_000 }))).toEqual({ 3: 1_000, 2: 1_000 });
    expect(summarizeProfiles([PROFILE], undefined, { startUs: 3_000, endUs: 5_000 }).busyMs).toBe(2);
  });
});

describe('areas of a profile', () => {
  it('name a package by its name or scope, Node by node, and the repository by its folder', () => {
    expect(toArea('node_modules/@nats-io/nats-core/build/src/errors.ts')).toBe('@nats-io');
    expect(toArea('node_modules/pino/lib/proto.js')).toBe('pino');
    expect(toArea('node:internal/streams/writable')).toBe('node');
    expect(toArea('source/pull.ts')).toBe('source');
    expect(toArea('functions/worker/handler.ts')).toBe('functions/worker');
    expect(toArea('wasm://wasm/0b2e3b4a')).toBe('wasm');
  });

  it("count Node's code and native functions to the caller outside Node, and V8 entries as themselves", () => {
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame('(root)'), children: [2, 4, 5] },
        { id: 2, callFrame: frame('flush', 'file:///app/node_modules/@nats-io/nats-core/x.js', 0), children: [6] },
        { id: 6, callFrame: frame('Socket.write', 'node:net', 10), children: [3] },
        { id: 3, callFrame: frame('writev') },
        { id: 4, callFrame: frame('(garbage collector)') },
        { id: 5, callFrame: frame('processTimers', 'node:internal/timers', 1) },
      ],
      startTime: 0,
      endTime: 5_000,
      samples: [3, 3, 6, 2, 4],
      timeDeltas: [0, 1_000, 1_000, 1_000, 1_000],
    };
    // processTimers is never sampled: an area appears only with time.
    const summary = summarizeProfiles([profile, { ...profile, samples: [5, 5, 5, 5, 5] }], (f) => ({ file: f.url.replace('file:///app/', ''), line: 1 }));
    expect(summary.areas).toEqual([
      { area: 'node', selfMs: 5 },
      { area: '@nats-io', selfMs: 4 },
      { area: '(garbage collector)', selfMs: 1 },
    ]);
    expect(summary.functions[0]).toEqual({ functionName: 'processTimers', file: 'node:internal/timers', line: 1, selfMs: 5 });
  });
});
