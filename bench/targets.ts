// The figures the issue sets (docs/design.md §8, for a 2-core machine), and the verdict of a
// measured value against one. A value that could not be measured (NaN) is a MISS.

export type Target = { label: string; op: '≥' | '≤'; limit: number; unit: string };

export const TARGETS = {
  throughput: { label: 'throughput at 64 clients', op: '≥', limit: 1_000, unit: 'tasks/s' },
  ratio: { label: 'throughput / BullMQ at 64 clients', op: '≥', limit: 0.3, unit: '×' },
  p50: { label: 'p50 latency, one client', op: '≤', limit: 10, unit: 'ms' },
  cpu: { label: 'CPU per task, whole stack', op: '≤', limit: 2, unit: 'ms' },
  burstDrain: { label: 'burst of 10,000: all terminal', op: '≤', limit: 20, unit: 's' },
  burstRss: { label: 'burst: peak RSS of every process', op: '≤', limit: 100, unit: 'MiB' },
  coldStart: { label: 'function cold start (median, slowest function)', op: '≤', limit: 150, unit: 'ms' },
} as const satisfies Record<string, Target>;

export type TargetId = keyof typeof TARGETS;

export type Verdict = Target & { id: TargetId; value: number; pass: boolean };

export function judge(id: TargetId, value: number, label: string = TARGETS[id].label): Verdict {
  const target = TARGETS[id];
  const pass = Number.isFinite(value) && (target.op === '≥' ? value >= target.limit : value <= target.limit);
  return { ...target, label, id, value, pass };
}

/** "1,000", "0.30", "12.3": enough digits to read, grouped thousands. */
export function formatNumber(value: number, digits = 1): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** `target ≥ 1,000 tasks/s: MISS (31.2 tasks/s)` */
export function formatVerdict(verdict: Verdict): string {
  const ratio = verdict.unit === '×';
  const limit = ratio ? `${verdict.limit.toFixed(2)}×` : `${formatNumber(verdict.limit, Number.isInteger(verdict.limit) ? 0 : 1)} ${verdict.unit}`;
  const value = !Number.isFinite(verdict.value)
    ? 'not measured'
    : ratio
      ? `${formatNumber(verdict.value, 3)}×`
      : `${formatNumber(verdict.value, 1)} ${verdict.unit}`;
  return `target ${verdict.op} ${limit}: ${verdict.pass ? 'PASS' : 'MISS'} (${value})`;
}
