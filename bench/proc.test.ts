import { describe, expect, it } from 'vitest';
import { parseCpuTicks, parseStatusMiB, readCpuTicks, readMemory } from './proc';

// A real line of /proc/<pid>/stat (nats-server), fields 14 and 15 being utime 1234 and stime 567.
const STAT = '4242 (nats-server) S 1 4242 4242 0 -1 4194560 2371 0 0 0 1234 567 0 0 20 0 9 0 123456 1262321664 5678 18446744073709551615';

describe('/proc readers', () => {
  it('CPU time is utime + stime, counted from the end of the command name', () => {
    expect(parseCpuTicks(STAT)).toBe(1801);
  });

  it('a command name with spaces and parentheses does not shift the fields', () => {
    expect(parseCpuTicks(STAT.replace('(nats-server)', '(a (b) c)'))).toBe(1801);
  });

  it('a text that is not a stat line is refused', () => {
    expect(() => parseCpuTicks('hello')).toThrow(/no "\)"/);
    expect(() => parseCpuTicks('1 (x) S 1')).toThrow(/utime/);
  });

  it('VmRSS and VmHWM are read in MiB', () => {
    const status = 'Name:\tnode\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t11\n';
    expect(parseStatusMiB(status, 'VmRSS')).toBe(100);
    expect(parseStatusMiB(status, 'VmHWM')).toBe(200);
    expect(parseStatusMiB('Name:\tkthreadd\n', 'VmRSS')).toBeUndefined();
  });

  it('the bench process can read itself, and a missing process reads as undefined', () => {
    expect(readCpuTicks(process.pid)).toBeGreaterThanOrEqual(0);
    expect(readMemory(process.pid)?.rssMiB).toBeGreaterThan(0);
    expect(readCpuTicks(undefined)).toBeUndefined();
    expect(readMemory(2 ** 22 + 1)).toBeUndefined();
  });
});
