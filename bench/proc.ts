// What the bench reads from Linux's /proc about a process: CPU time spent (utime + stime, every
// thread of the process) and resident memory (VmRSS now, VmHWM the kernel's high-water mark).
// The parsers are pure; the readers return undefined for a process that is gone.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** utime + stime, in clock ticks, from the text of /proc/<pid>/stat. The command name (field 2)
 * is in parentheses and may itself hold spaces and parentheses, so fields count from the last ')'. */
export function parseCpuTicks(statText: string): number {
  const close = statText.lastIndexOf(')');
  if (close < 0) throw new Error('not a /proc/<pid>/stat line: no ")"');
  // After ") ": field 3 (state) is index 0, so field 14 (utime) is index 11, field 15 (stime) 12.
  const fields = statText
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('not a /proc/<pid>/stat line: no utime/stime');
  return utime + stime;
}

/** A `Name:   1234 kB` field of /proc/<pid>/status in MiB, or undefined when absent. */
export function parseStatusMiB(statusText: string, field: 'VmRSS' | 'VmHWM'): number | undefined {
  const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB$`, 'm').exec(statusText);
  return match ? Number(match[1]) / 1024 : undefined;
}

function readProcFile(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

export function readCpuTicks(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  const text = readProcFile(pid, 'stat');
  return text === undefined ? undefined : parseCpuTicks(text);
}

export type Memory = { rssMiB: number; hwmMiB: number };

export function readMemory(pid: number | undefined): Memory | undefined {
  if (pid === undefined) return undefined;
  const text = readProcFile(pid, 'status');
  if (text === undefined) return undefined;
  const rssMiB = parseStatusMiB(text, 'VmRSS');
  const hwmMiB = parseStatusMiB(text, 'VmHWM');
  return rssMiB === undefined || hwmMiB === undefined ? undefined : { rssMiB, hwmMiB };
}

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`; 100 on every usual Linux). */
export function readClockTicks(): number {
  const probe = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const hz = Number(probe.stdout?.trim());
  return Number.isInteger(hz) && hz > 0 ? hz : 100;
}
