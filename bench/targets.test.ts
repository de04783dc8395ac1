import { describe, expect, it } from 'vitest';
import { formatNumber, formatVerdict, judge } from './targets';

describe('targets', () => {
  it('a floor passes at or above it, a ceiling at or below it', () => {
    expect(judge('throughput', 1_000).pass).toBe(true);
    expect(judge('throughput', 999.9).pass).toBe(false);
    expect(judge('cpu', 2).pass).toBe(true);
    expect(judge('cpu', 2.01).pass).toBe(false);
  });

  it('a figure that could not be measured is a MISS', () => {
    expect(judge('p50', NaN).pass).toBe(false);
    expect(judge('ratio', Infinity).pass).toBe(false);
  });

  it('a verdict reads as the target, PASS or MISS, and the value', () => {
    expect(formatVerdict(judge('throughput', 31.24))).toBe('target ≥ 1,000 tasks/s: MISS (31.2 tasks/s)');
    expect(formatVerdict(judge('ratio', 0.0123))).toBe('target ≥ 0.30×: MISS (0.012×)');
    expect(formatVerdict(judge('p50', 8.04))).toBe('target ≤ 10 ms: PASS (8.0 ms)');
    expect(formatVerdict(judge('cpu', NaN))).toBe('target ≤ 2 ms: MISS (not measured)');
  });

  it('numbers group thousands', () => {
    expect(formatNumber(12_345.678, 1)).toBe('12,345.7');
    expect(formatNumber(NaN)).toBe('n/a');
  });
});
