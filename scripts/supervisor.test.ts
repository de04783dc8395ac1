// The supervisor's hold/release (fault tests keep a function down past the retry schedule):
// a held process that dies stays down, and release starts it again. And its output lines.
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../test/helpers/ports';
import { createSupervisor, type Supervisor } from './supervisor';

const idle = { name: 'idle', args: ['-e', 'setInterval(() => {}, 1000)'], env: {} };

describe('supervisor hold and release', () => {
  let supervisor: Supervisor | undefined;
  afterEach(async () => {
    await supervisor?.stop(1_000);
  });

  it('does not restart a held process that dies, and starts it again on release', async () => {
    const lines: string[] = [];
    supervisor = createSupervisor({ specs: [idle], log: (line) => lines.push(line) });
    await supervisor.start();
    const first = supervisor.pid('idle');

    supervisor.hold('idle');
    supervisor.kill('idle', 'SIGKILL');
    await waitFor('the exit to be seen', () => supervisor!.exits.length === 1);
    expect(lines.some((line) => line.includes('held down, not restarting'))).toBe(true);
    expect(lines.some((line) => line.includes('restarting in'))).toBe(false);

    supervisor.release('idle');
    const second = supervisor.pid('idle');
    expect(second).toBeDefined();
    expect(second).not.toBe(first);
    expect(supervisor.restarts('idle')).toBe(1);
  });

  it('restarts a process that dies when it is not held', async () => {
    const lines: string[] = [];
    supervisor = createSupervisor({ specs: [idle], log: (line) => lines.push(line) });
    await supervisor.start();
    const first = supervisor.pid('idle');
    supervisor.kill('idle', 'SIGKILL');
    await waitFor('a restart', () => supervisor!.pid('idle') !== first);
    expect(supervisor.restarts('idle')).toBe(1);
  });

  it('release of a process that is running leaves it alone', async () => {
    supervisor = createSupervisor({ specs: [idle], log: () => undefined });
    await supervisor.start();
    const first = supervisor.pid('idle');
    supervisor.hold('idle');
    supervisor.release('idle');
    expect(supervisor.pid('idle')).toBe(first);
    expect(supervisor.restarts('idle')).toBe(0);
  });
});

describe('supervisor output', () => {
  let supervisor: Supervisor | undefined;
  afterEach(async () => {
    await supervisor?.stop(1_000);
  });

  it('passes every output line of a process through the formatter it is given', async () => {
    const lines: string[] = [];
    const talker = { name: 'talker', args: ['-e', 'console.log("one"); console.error("two"); setInterval(() => {}, 1000)'], env: {} };
    supervisor = createSupervisor({ specs: [talker], log: (line) => lines.push(line), format: (name, line) => `<${name}|${line}>` });
    await supervisor.start();
    await waitFor('both lines', () => lines.filter((line) => line.startsWith('<talker|')).length === 2);
    expect(lines.filter((line) => line.startsWith('<talker|')).sort()).toEqual(['<talker|one>', '<talker|two>']);
  });
});

describe('supervisor stop', () => {
  let supervisor: Supervisor | undefined;
  afterEach(async () => {
    await supervisor?.stop(1_000);
  });

  it('records when it sent each process SIGTERM and when that process exited', async () => {
    // Drains for 300 ms after SIGTERM, then exits 0; says when its handler is installed.
    const script = "process.on('SIGTERM', () => setTimeout(() => process.exit(0), 300)); console.log('ready'); setInterval(() => {}, 1000)";
    const draining = { name: 'draining', args: ['-e', script], env: {} };
    const lines: string[] = [];
    supervisor = createSupervisor({ specs: [draining], log: (line) => lines.push(line) });
    await supervisor.start();
    await waitFor('the SIGTERM handler', () => lines.includes('[draining] ready'));
    const [exit] = await supervisor.stop(5_000);
    supervisor = undefined;
    expect(exit).toMatchObject({ name: 'draining', code: 0, signal: null });
    expect(exit!.termAtMs).toBeDefined();
    expect(exit!.atMs - exit!.termAtMs!).toBeGreaterThanOrEqual(300);
  });
});
