// The demo's pure parts: the task mix, row rendering and the in-place display.
import { describe, expect, it } from 'vitest';
import { applyUpdate, createDisplay, DEMO_MIX, renderBar, renderRow, summarize, toDemoTasks, toInitialRow } from './demo';

describe('toDemoTasks', () => {
  it('covers every outcome: success, progress, delay, retry, final failure after 2 attempts, rejection', () => {
    const types = DEMO_MIX.map((task) => task.input.type);
    expect(types).toEqual(expect.arrayContaining(['echo', 'hash', 'sleep', 'flaky', 'fail', 'no-such-type']));
    expect(DEMO_MIX.find((task) => task.input.type === 'fail')!.input.maxAttempts).toBe(2);
    expect(new Set(DEMO_MIX.map((task) => task.input.priority))).toEqual(new Set(['low', 'medium', 'high']));
    expect(DEMO_MIX.filter((task) => task.input.type === 'sleep').map((task) => (task.input.payload as { ms: number }).ms)).toHaveLength(3);
  });

  it('takes --count tasks round-robin and numbers the repeats', () => {
    expect(toDemoTasks(2).map((task) => task.label)).toEqual([DEMO_MIX[0]!.label, DEMO_MIX[1]!.label]);
    const many = toDemoTasks(DEMO_MIX.length + 2);
    expect(many).toHaveLength(DEMO_MIX.length + 2);
    expect(many.at(-1)!.label).toBe(`${DEMO_MIX[1]!.label} #2`);
    expect(many.at(-1)!.input).toEqual(DEMO_MIX[1]!.input);
  });
});

describe('rendering', () => {
  const row = toInitialRow(DEMO_MIX[2]!, 'abcdef1234567890', 'QUEUED');

  it('draws a progress bar only while RUNNING, clamped to 0..100', () => {
    expect(renderBar(0, 10)).toBe('[..........]   0%');
    expect(renderBar(35, 10)).toBe('[####......]  35%');
    expect(renderBar(150, 10)).toBe('[##########] 100%');
    const running = applyUpdate(row, { taskId: 'abcdef1234567890', state: 'RUNNING', stage: 'worker', attempt: 2, message: '', progress: 70, updatedAtMs: 1, seq: 6 });
    expect(renderRow(running)).toContain('RUNNING   attempt 2 [##############......]  70%');
    expect(renderRow(running)).toContain('abcdef12 ');
    const done = applyUpdate(running, { ...running, taskId: 'abcdef1234567890', state: 'FAILED', stage: 'x', message: 'boom', updatedAtMs: 2 });
    expect(renderRow(done)).not.toContain('[');
    expect(renderRow(done)).toMatch(/FAILED {4}attempt 2 boom$/);
  });

  it('summarizes by state in first-seen order, counting watch errors apart', () => {
    const rows = [
      { ...row, state: 'SUCCEEDED' },
      { ...row, state: 'REJECTED' },
      { ...row, state: 'SUCCEEDED' },
      { ...row, state: 'RUNNING', error: 'UNAVAILABLE: gone' },
    ];
    expect(summarize(rows)).toBe('4 tasks: SUCCEEDED 2, REJECTED 1, ERROR 1');
  });

  it('on a TTY redraws the whole block in place, cut to the terminal width', () => {
    const writes: string[] = [];
    const display = createDisplay({ write: (chunk) => writes.push(chunk), isTTY: true, columns: 30 });
    const rows = [row, { ...row, label: 'second' }];
    display.changed(rows, 0);
    display.changed(rows, 1);
    expect(writes[0]).not.toContain('\x1b[2A');
    expect(writes[1]!.startsWith('\x1b[2A')).toBe(true);
    const lines = writes[1]!.replace('\x1b[2A', '').split('\n').filter(Boolean);
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line.replace('\x1b[2K', '').length).toBeLessThan(30);
  });
});
