import { afterEach, describe, expect, it, vi } from 'vitest';
import { Nuid } from './nuid';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('nuid', () => {
  it('makes 22-character base-62 ids that share a prefix and never repeat', () => {
    const ids = new Nuid();
    const drawn = Array.from({ length: 50_000 }, () => ids.next());
    for (const id of drawn.slice(0, 100)) expect(id).toMatch(/^[0-9A-Za-z]{22}$/);
    expect(new Set(drawn).size).toBe(drawn.length);
    expect(new Set(drawn.map((id) => id.slice(0, 12))).size).toBe(1);
  });

  it('gives each instance its own prefix', () => {
    const prefixes = Array.from({ length: 100 }, () => new Nuid().next().slice(0, 12));
    expect(new Set(prefixes).size).toBe(100);
  });

  it('moves the sequence by its step, carrying into the next digit', () => {
    // Math.random at 0: prefix all '0', sequence starts at 0, the step is the smallest (33).
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const ids = new Nuid();
    expect(ids.next()).toBe(`${'0'.repeat(12)}${'0'.repeat(8)}0X`); // 33 = 0 * 62 + 33 ('X')
    expect(ids.next()).toBe(`${'0'.repeat(12)}${'0'.repeat(8)}14`); // 66 = 1 * 62 + 4
  });

  it('takes a new prefix once the sequence runs out, instead of wrapping to ids already given', () => {
    // Just below the top of the sequence: every digit 'z' (61); the next step overflows.
    const random = vi.spyOn(Math, 'random').mockReturnValue(61.5 / 62);
    const ids = new Nuid();
    random.mockReturnValue(0);
    const id = ids.next();
    expect(id.slice(0, 12)).toBe('0'.repeat(12));
    expect(id).not.toMatch(/^z{12}/);
  });
});
