// Fault scenario 13: bytes that are not a CloudEvent, published straight to JetStream on every
// subject of the contract: invalid UTF-8, and JSON that lacks the CloudEvent attributes. Each
// source gives up on them at once (no retry can fix bytes) with a dead letter that says why
// (stage `source:<function>`, task id `unknown`, the stream sequence and the first bytes), and
// goes on delivering the rest: a task submitted right behind them succeeds. On events.deadletter
// the deadletter stage's source only logs and terminates: no dead letter about a dead letter, no
// loop.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CONSUMERS, KEYS, SUBJECTS } from '../../shared/contract';
import { waitFor } from '../helpers/ports';
import type { FaultScenario } from './context';
import { checkInvariants } from './invariants';
import { startRunCounter } from './run-counter';
import { publishRaw, readConsumers, waitForConsumersIdle } from './probes';

type Letter = { taskId: string; stage: string; reason: string; attempts: number; event: { raw?: string; subject?: string } };

/** tm_source_outcomes_total{outcome="deadletter"} of a source, summed over its consumers. */
async function countGiveUps(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return [...text.matchAll(/^tm_source_outcomes_total\{[^}]*outcome="deadletter"[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

/** The functions whose sources read a subject (events.status has two: notifier and audit). */
function readersOf(subject: string): string[] {
  const stages = Object.entries(CONSUMERS).filter(([, specs]) => specs.some((spec) => spec.filterSubject === subject));
  if (stages.length === 0) throw new Error(`no consumer reads ${subject}`);
  return stages.map(([stage]) => stage).sort();
}

export const describePoison: FaultScenario = (context) => {
  describe('fault 13: bytes that are not a CloudEvent on every subject', () => {
    it('each is dead-lettered with a reason by its source (only terminated on events.deadletter, no loop), and delivery goes on', async () => {
      const { stack, client } = context();
      const runs = await startRunCounter(stack.nc);
      const marker = `poison-${randomUUID()}`;
      const subjects = Object.values(SUBJECTS);
      const giveUpsBefore = await countGiveUps(stack.ports['deadletter-source']!);
      for (const subject of subjects) {
        // Invalid UTF-8 around readable text, and a JSON object without any CloudEvent attribute.
        const bytes = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00]), Buffer.from(`${marker} on ${subject}`)]);
        await publishRaw(stack.nc, subject, bytes, `${marker}:${subject}:bytes`);
        await publishRaw(stack.nc, subject, JSON.stringify({ marker, subject, hello: 'not a CloudEvent' }), `${marker}:${subject}:json`);
      }
      // Right behind the bytes on every stage's way: it must get through.
      const { taskId } = await client.submit({ type: 'echo', payload: { after: marker } });
      expect((await client.waitForResult(taskId)).state).toBe('SUCCEEDED');

      const expected = subjects.filter((subject) => subject !== SUBJECTS.deadletter);
      const ours = async () =>
        (await stack.redis.lrange(KEYS.deadLetter, 0, -1)).map((entry) => JSON.parse(entry) as Letter).filter((l) => l.event?.raw?.includes(marker));
      // Two poisoned messages per subject, each given up on by every source that reads it.
      const letterCount = expected.reduce((sum, subject) => sum + 2 * readersOf(subject).length, 0);
      await waitFor('a dead letter for every poisoned message', async () => (await ours()).length >= letterCount, 60_000, 200);
      await waitForConsumersIdle(stack.nc, 60_000);

      const letters = await ours();
      expect(letters).toHaveLength(letterCount);
      for (const subject of expected) {
        const about = letters.filter((letter) => letter.event.subject === subject);
        expect(about, subject).toHaveLength(2 * readersOf(subject).length);
        expect([...new Set(about.map((letter) => letter.stage))].sort(), subject).toEqual(readersOf(subject).map((stage) => `source:${stage}`));
        for (const letter of about) {
          expect(letter, subject).toMatchObject({ taskId: 'unknown', attempts: 1 });
          expect(letter.reason, subject).toMatch(/is not a valid CloudEvent: /);
        }
        expect(about.map((l) => l.reason).join('\n'), subject).toMatch(/not a JSON CloudEvent/);
        expect(about.map((l) => l.reason).join('\n'), subject).toMatch(/required attribute "id" is missing/);
      }
      // The deadletter stage's own source: two give-ups (logged and terminated), nothing stored
      // about them, nothing redelivered or re-published in a loop.
      expect(letters.some((letter) => letter.stage === 'source:deadletter')).toBe(false);
      expect((await countGiveUps(stack.ports['deadletter-source']!)) - giveUpsBefore).toBe(2);
      const deadletter = (await readConsumers(stack.nc)).find((load) => load.durable === 'deadletter');
      expect(deadletter?.redelivered).toBe(0);

      const invariants = await checkInvariants(stack.redis, { taskIds: [taskId], runs, expectedStates: new Map([[taskId, 'SUCCEEDED']]) });
      await runs.stop();
      expect(invariants.violations).toEqual([]);
    }, 180_000);
  });
};
