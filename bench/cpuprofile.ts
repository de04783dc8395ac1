// A reader of V8's .cpuprofile format (what `node --cpu-prof` writes), pure: where a process's
// CPU went, as self time per function. The format: `nodes` is the call tree, each node a
// `callFrame` (functionName, url, 0-based lineNumber/columnNumber) with `children`; `samples[i]`
// is the id of the node on top of the stack at sample i and `timeDeltas[i]` the µs since the
// sample before it (since `startTime` for the first). Older or trimmed profiles carry only
// `hitCount` per node; then each hit gets an equal share of the profile's duration.

export type CallFrame = { functionName: string; url: string; lineNumber: number; columnNumber: number; scriptId?: string };
export type CpuProfileNode = { id: number; callFrame: CallFrame; hitCount?: number; children?: number[] };
export type CpuProfile = { nodes: CpuProfileNode[]; startTime: number; endTime: number; samples?: number[]; timeDeltas?: number[] };

export function parseCpuProfile(text: string): CpuProfile {
  const value = JSON.parse(text) as Partial<CpuProfile>;
  if (!Array.isArray(value.nodes) || typeof value.startTime !== 'number' || typeof value.endTime !== 'number') {
    throw new Error('not a V8 CPU profile: nodes, startTime and endTime are required');
  }
  return value as CpuProfile;
}

/** A span of V8's profile clock (µs of CLOCK_MONOTONIC on Linux: `process.hrtime` in any
 * process of the machine reads the same clock). */
export type TimeWindow = { startUs: number; endUs: number };

/** Self time of each node id, in µs. A sample lasts until the next one; the last until endTime.
 * With a window, only samples taken inside it count (profiles without samples cannot be cut). */
export function toSelfTimes(profile: CpuProfile, window?: TimeWindow): Map<number, number> {
  const self = new Map<number, number>();
  const add = (id: number, us: number) => self.set(id, (self.get(id) ?? 0) + us);
  const { samples, timeDeltas } = profile;
  if (samples && timeDeltas && samples.length > 0 && samples.length === timeDeltas.length) {
    let at = profile.startTime;
    const times = timeDeltas.map((delta) => (at += delta));
    samples.forEach((id, i) => {
      const time = times[i]!;
      if (window && (time < window.startUs || time >= window.endUs)) return;
      add(id, Math.max(0, (times[i + 1] ?? profile.endTime) - time));
    });
    return self;
  }
  const hits = profile.nodes.reduce((sum, node) => sum + (node.hitCount ?? 0), 0);
  const perHit = hits > 0 ? (profile.endTime - profile.startTime) / hits : 0;
  for (const node of profile.nodes) if (node.hitCount) add(node.id, node.hitCount * perHit);
  return self;
}

/** Where a function is, for people: a file (repository-relative where possible) and a 1-based line. */
export type Location = { file: string; line: number };
export type ResolveLocation = (frame: CallFrame) => Location;

/** Without source maps: the URL as it is, line made 1-based; native code (no URL) has no place. */
export const rawLocation: ResolveLocation = (frame) =>
  frame.url === '' ? { file: '', line: 0 } : { file: frame.url.replace(/^file:\/\//, ''), line: frame.lineNumber + 1 };

export type FunctionCost = { functionName: string; file: string; line: number; selfMs: number };

export type ProfileSummary = {
  profiles: number;
  /** Everything sampled, idle included. */
  totalMs: number;
  idleMs: number;
  /** totalMs - idleMs: what the percentages are of. */
  busyMs: number;
  /** By self time, largest first; (program) and (garbage collector) included, (idle) not. */
  functions: FunctionCost[];
  /** Self time per package or folder (toArea) that caused it: Node's own code and native
   * functions are counted to the nearest caller outside Node (a socket write to the library that
   * wrote), largest first. */
  areas: { area: string; selfMs: number }[];
};

/**
 * Where a file belongs, for a coarse view: a package (scoped ones by scope: `@opentelemetry`),
 * Node itself (`node`), WebAssembly (`wasm`: undici's HTTP parser), or the repository's folder
 * (`source`, `shared`, `functions/worker`; `dist` for bundle code no source map covers).
 */
export function toArea(file: string): string {
  if (file.startsWith('node:')) return 'node';
  if (file.startsWith('wasm:')) return 'wasm';
  const packagePath = /(?:^|\/)node_modules\/((?:@[^/]+)|[^/]+)/.exec(file);
  if (packagePath) return packagePath[1]!;
  const parts = file.split('/');
  if (parts[0] === 'functions' && parts.length > 2) return `functions/${parts[1]}`;
  return parts.length > 1 ? parts[0]! : file;
}

const IDLE = '(idle)';
const ROOT = '(root)';

/** One summary over several profiles (e.g. every run of a process), functions merged by name and place. */
export function summarizeProfiles(profiles: readonly CpuProfile[], resolve: ResolveLocation = rawLocation, window?: TimeWindow): ProfileSummary {
  const costs = new Map<string, FunctionCost>();
  const areas = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (const profile of profiles) {
    const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
    const parents = new Map<number, number>();
    for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
    /** The area that caused this node's time: the nearest frame, from it up, outside Node (its
     * own JS and native code); `node` when the whole stack is Node's (timers, microtasks). */
    const callerArea = (id: number): string => {
      let sawNode = false;
      for (let at: number | undefined = id; at !== undefined; at = parents.get(at)) {
        const frame = nodes.get(at)?.callFrame;
        if (!frame || frame.url === '') continue;
        if (frame.url.startsWith('node:')) sawNode = true;
        else return toArea(resolve(frame).file);
      }
      return sawNode ? 'node' : '(native)';
    };
    for (const [id, us] of toSelfTimes(profile, window)) {
      const frame = nodes.get(id)?.callFrame;
      if (!frame || frame.functionName === ROOT) continue;
      totalUs += us;
      if (frame.functionName === IDLE) {
        idleUs += us;
        continue;
      }
      // No URL: V8's own entries ((program), (garbage collector)) and native functions.
      const where = frame.url === '' ? { file: '', line: 0 } : resolve(frame);
      const functionName = frame.functionName === '' ? '(anonymous)' : frame.functionName;
      const key = `${functionName}\u0000${where.file}\u0000${where.line}`;
      const cost = costs.get(key) ?? { functionName, file: where.file, line: where.line, selfMs: 0 };
      cost.selfMs += us / 1000;
      costs.set(key, cost);
      const area = frame.url === '' && frame.functionName.startsWith('(') ? frame.functionName : callerArea(id);
      areas.set(area, (areas.get(area) ?? 0) + us / 1000);
    }
  }
  return {
    profiles: profiles.length,
    totalMs: totalUs / 1000,
    idleMs: idleUs / 1000,
    busyMs: (totalUs - idleUs) / 1000,
    functions: [...costs.values()].sort((a, b) => b.selfMs - a.selfMs),
    areas: [...areas].map(([area, selfMs]) => ({ area, selfMs })).sort((a, b) => b.selfMs - a.selfMs),
  };
}
