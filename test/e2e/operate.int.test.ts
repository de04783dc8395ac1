// The operator's RPCs end to end on the process stack, with real NATS and Redis and two tenants:
// ReplayDeadLetters (new tasks, the same ones again, dry runs, audited) and ListAuditEvents,
// through the client and through `tm`.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskManagerClient, type DeadLetter, type TaskManagerClient } from '../../client/client';
import { waitForTerminal } from '../faults/workload';
import { waitFor } from '../helpers/ports';
import { startTestStack, type TestStack } from '../helpers/stack';
import { runTm } from '../helpers/tm';

const ACME_KEY = randomBytes(16).toString('hex');
const GLOBEX_KEY = randomBytes(16).toString('hex');

async function allDeadLetters(client: TaskManagerClient): Promise<DeadLetter[]> {
  const all: DeadLetter[] = [];
  let pageToken: string | undefined;
  do {
    const page = await client.listDeadLetters({ pageSize: 1000, pageToken });
    all.push(...page.deadLetters);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return all;
}

describe('dead-letter replay and audit trails on the running stack', () => {
  let stack: TestStack;
  let acme: TaskManagerClient;
  let globex: TaskManagerClient;
  let tm: (args: string[], key?: string) => ReturnType<typeof runTm>;
  /** acme's failed and rejected tasks, and an echo task. */
  const dead: string[] = [];
  let echoId = '';
  let letters: DeadLetter[] = [];

  beforeAll(async () => {
    stack = await startTestStack({ env: { TM_API_KEYS: `acme:${ACME_KEY},globex:${GLOBEX_KEY}` } });
    acme = createTaskManagerClient({ address: stack.gatewayAddress, token: ACME_KEY });
    globex = createTaskManagerClient({ address: stack.gatewayAddress, token: GLOBEX_KEY });
    tm = (args, key = ACME_KEY) => runTm([...args, '--json'], { TM_ADDRESS: stack.gatewayAddress, TM_TOKEN: key });
    for (let i = 0; i < 30; i += 1) {
      const request = i % 3 === 0 ? { type: 'no-such-type', payload: `{"i":${i}}` } : { type: 'fail', payload: `{"message":"boom ${i}"}`, maxAttempts: 1, metadata: { batch: 'b1' } };
      dead.push((await acme.submit(request)).taskId);
    }
    echoId = (await acme.submit({ type: 'echo', payload: '{"hello":"audit"}' })).taskId;
    await waitForTerminal(stack.redis, [...dead, echoId], 60_000);
    letters = await waitFor('a dead letter per dead task', async () => {
      const all = await allDeadLetters(acme);
      return all.length >= dead.length ? all : undefined;
    }, 30_000);
  }, 180_000);

  afterAll(async () => {
    acme?.close();
    globex?.close();
    await stack?.stop();
  }, 60_000);

  it('another tenant can neither replay nor see the dead letters, nor read the audit trail', async () => {
    const ids = letters.map((letter) => letter.id);
    const byId = await globex.replayDeadLetters({ ids });
    expect(byId).toMatchObject({ replayed: 0, taskIds: [] });
    expect(byId.skipped.map((skip) => skip.reason)).toEqual(ids.map(() => 'no such dead letter'));
    expect(await globex.replayDeadLetters({})).toMatchObject({ replayed: 0, taskIds: [], skipped: [] });
    await expect(globex.listAuditEvents(echoId)).rejects.toThrow(/NOT_FOUND/);
    const cli = await tm(['audit', dead[0]!], GLOBEX_KEY);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/NOT_FOUND/);
    // Nothing changed for acme.
    expect((await allDeadLetters(acme)).every((letter) => letter.replayedAs === '')).toBe(true);
  });

  it('a dry run says what would be replayed and changes nothing', async () => {
    const result = await acme.replayDeadLetters({ dryRun: true, type: 'fail' });
    expect(new Set(result.wouldReplay)).toEqual(new Set(letters.filter((letter) => letter.type === 'fail').map((letter) => letter.id)));
    expect(result).toMatchObject({ replayed: 0, taskIds: [], skipped: [] });
    expect((await allDeadLetters(acme)).every((letter) => letter.replayedAs === '')).toBe(true);
    expect((await acme.listTasks({ pageSize: 1000 })).tasks).toHaveLength(dead.length + 1);
  });

  it('replays every dead letter as one new task each, the same tasks again, each audited', async () => {
    const cli = await tm(['dlq', 'replay', '--all']);
    expect(cli.code, cli.stderr).toBe(0);
    const all = JSON.parse(cli.stdout) as { replayed: number; taskIds: string[]; alreadyReplayed: number; skipped: unknown[] };
    expect(all).toMatchObject({ replayed: dead.length, alreadyReplayed: 0, skipped: [] });
    expect(new Set(all.taskIds).size).toBe(dead.length);
    expect(all.taskIds.filter((id) => dead.includes(id))).toEqual([]);

    // Each dead letter remembers its task; each task replays the dead one, with its payload.
    const byLetter = new Map((await allDeadLetters(acme)).map((letter) => [letter.id, letter]));
    const replays = letters.map((letter) => ({ letter, taskId: byLetter.get(letter.id)!.replayedAs }));
    expect(replays.map((replay) => replay.taskId).sort()).toEqual([...all.taskIds].sort());
    for (const { letter, taskId } of replays.slice(0, 6)) {
      const [task, original] = await Promise.all([acme.getTask(taskId), acme.getTask(letter.taskId)]);
      expect(task).toMatchObject({ type: original.type, payload: original.payload, priority: original.priority });
      expect(task.metadata).toEqual({ ...original.metadata, replay_of: letter.taskId });
    }

    // Replaying again, by id: the same tasks, nothing new.
    const again = await acme.replayDeadLetters({ ids: letters.map((letter) => letter.id) });
    expect(again).toMatchObject({ replayed: dead.length, alreadyReplayed: dead.length, skipped: [] });
    expect(again.taskIds).toEqual(replays.map((replay) => replay.taskId));

    // Every replay ends (failing or rejected again, as the dead task did) and its trail shows it.
    await waitForTerminal(stack.redis, all.taskIds, 60_000);
    for (const { letter, taskId } of replays) {
      const trail = await waitFor(`the replay audit of ${taskId}`, async () => {
        const page = await acme.listAuditEvents(taskId, { pageSize: 1000 });
        return page.events.some((event) => event.action === 'task.replay_of') ? page.events : undefined;
      }, 20_000);
      expect(trail.find((event) => event.action === 'task.replay_of')!.detail).toContain(letter.taskId);
    }
    const original = await acme.listAuditEvents(replays[0]!.letter.taskId, { pageSize: 1000 });
    expect(original.events.find((event) => event.action === 'task.replayed')?.detail).toContain(replays[0]!.taskId);

    // The replays died too: two concurrent replays of their dead letters agree on one task each.
    const replayIds = new Set(all.taskIds);
    const second = await waitFor('a dead letter per replay', async () => {
      const found = (await allDeadLetters(acme)).filter((letter) => replayIds.has(letter.taskId));
      return found.length >= replayIds.size ? found.map((letter) => letter.id) : undefined;
    }, 30_000);
    const [one, two] = await Promise.all([acme.replayDeadLetters({ ids: second }), acme.replayDeadLetters({ ids: second })]);
    expect(one.taskIds).toEqual(two.taskIds);
    expect(new Set(one.taskIds).size).toBe(second.length);
    expect(one.replayed + two.replayed).toBe(2 * second.length);
    expect(one.alreadyReplayed + two.alreadyReplayed).toBe(second.length);
  }, 180_000);

  it("ListAuditEvents pages through a task's trail oldest first, and tm audit prints it", async () => {
    const whole = await waitFor('the echo task trail', async () => {
      const page = await acme.listAuditEvents(echoId, { pageSize: 1000 });
      return page.events.some((event) => event.action === 'handler.started') ? page.events : undefined;
    }, 20_000);
    expect(whole.length).toBeGreaterThan(2);
    expect(whole.every((event) => event.taskId === echoId)).toBe(true);
    expect(whole.map((event) => event.atMs)).toEqual([...whole.map((event) => event.atMs)].sort((a, b) => a - b));
    const paged: typeof whole = [];
    let pageToken: string | undefined;
    do {
      const page = await acme.listAuditEvents(echoId, { pageSize: 2, pageToken });
      expect(page.events.length).toBeLessThanOrEqual(2);
      paged.push(...page.events);
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(paged).toEqual(whole);
    await expect(acme.listAuditEvents(echoId, { pageSize: 2, pageToken: 'not-a-token' })).rejects.toThrow(/INVALID_ARGUMENT.*page_token/);
    const cli = await tm(['audit', echoId]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { action: string }).action)).toEqual(whole.map((event) => event.action));
  });
});
