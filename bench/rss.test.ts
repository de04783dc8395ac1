import { describe, expect, it } from 'vitest';
import { recordMemory, toPeakMiB, type MemoryPeaks } from './rss';

describe('memory peaks', () => {
  it('keep the highest sample and the highest high-water mark of every pid a process had', () => {
    const peaks: MemoryPeaks = new Map();
    recordMemory(peaks, 'worker', 10, { rssMiB: 80, hwmMiB: 90 });
    recordMemory(peaks, 'worker', 10, { rssMiB: 120, hwmMiB: 125 });
    recordMemory(peaks, 'worker', 11, { rssMiB: 60, hwmMiB: 60 });
    expect(peaks.get('worker')).toEqual({ name: 'worker', firstMiB: 80, sampledMiB: 120, hwmMiB: 125, samples: 3, pids: [10, 11] });
    expect(toPeakMiB(peaks.get('worker')!)).toBe(125);
  });
});
