// Peak resident memory per process over a phase: VmRSS sampled every 250 ms, and the kernel's
// own high-water mark (VmHWM), which also catches a spike between two samples. A process the
// supervisor restarted keeps its name; its peaks are the highest of every pid it had.
import { readMemory, type Memory } from './proc';

export type MemoryPeak = {
  name: string;
  /** VmRSS at the first reading (before the load). */
  firstMiB: number;
  sampledMiB: number;
  hwmMiB: number;
  samples: number;
  pids: number[];
};

export type MemoryPeaks = Map<string, MemoryPeak>;

/** Folds one reading into the peaks (pure). */
export function recordMemory(peaks: MemoryPeaks, name: string, pid: number, memory: Memory): void {
  const peak = peaks.get(name) ?? { name, firstMiB: memory.rssMiB, sampledMiB: 0, hwmMiB: 0, samples: 0, pids: [] };
  peak.sampledMiB = Math.max(peak.sampledMiB, memory.rssMiB);
  peak.hwmMiB = Math.max(peak.hwmMiB, memory.hwmMiB);
  peak.samples += 1;
  if (!peak.pids.includes(pid)) peak.pids.push(pid);
  peaks.set(name, peak);
}

/** The figure judged against the target: the higher of the sampled peak and the high-water mark. */
export function toPeakMiB(peak: MemoryPeak): number {
  return Math.max(peak.sampledMiB, peak.hwmMiB);
}

export type MemorySampler = { stop(): MemoryPeaks };

export function sampleMemory(processes: () => readonly { name: string; pid: number | undefined }[], intervalMs = 250): MemorySampler {
  const peaks: MemoryPeaks = new Map();
  const sample = () => {
    for (const { name, pid } of processes()) {
      const memory = readMemory(pid);
      if (pid !== undefined && memory) recordMemory(peaks, name, pid, memory);
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peaks;
    },
  };
}
