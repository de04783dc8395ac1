// The run counter's pure parts: reading run records out of published events (both shapes a
// handler start can travel in: its own audit event, or the status step that carries it), and the ledger that counts runs and says which tasks were
// running at a given time.
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES, type FinishedData, type StatusStep, type TaskEnvelope } from '../../shared/contract';
import { createEmitter, EVENT_IDS } from '../../shared/emit';
import { createEvent, toWireBytes, type WireEvent } from '../../shared/events';
import { createRunLedger, toRunRecords, type RunRecord } from './run-counter';

/** What the worker's emitter publishes, captured instead of sent. */
function captureEmitter(atMs: number) {
  const published: WireEvent[] = [];
  const emit = createEmitter({ publish: async (_subject, event) => void published.push(event) }, 'worker', () => atMs);
  return { emit, published };
}

const start = (taskId: string, attempt: number, atMs: number): RunRecord => ({ kind: 'start', taskId, attempt, atMs });
const end = (taskId: string, attempt: number, atMs: number): RunRecord => ({ kind: 'end', taskId, attempt, atMs });

describe('toRunRecords', () => {
  it('reads a handler start from the audit event the worker publishes, and nothing from its other audit events', async () => {
    const { emit, published } = captureEmitter(1_000);
    await emit.audit('t1', 'handler.started', { attempt: 2, detail: 'type echo, attempt 2 of 5' });
    await emit.audit('t1', 'skipped.duplicate', { attempt: 2 });
    expect(published.map((event) => toRunRecords(toWireBytes(event)))).toEqual([[start('t1', 2, 1_000)], []]);
  });

  it('reads the end of a run from `finished` and from a RETRYING status of the worker, not from other statuses', async () => {
    const { emit, published } = captureEmitter(2_000);
    await emit.status('t1', 'RETRYING', { attempt: 1 });
    await emit.status('t1', 'RUNNING', { attempt: 1 });
    const retryingElsewhere = createEvent({
      id: 'x',
      component: 'result-store',
      type: EVENT_TYPES.statusChanged,
      taskId: 't1',
      data: {
        taskId: 't1',
        stage: 'result-store',
        transitions: [{ state: 'RETRYING', attempt: 1, message: '', progress: 0, updatedAtMs: 2_000 }],
      } satisfies StatusStep,
    });
    const finished: FinishedData = {
      task: { taskId: 't1' } as TaskEnvelope,
      state: 'SUCCEEDED',
      output: '{}',
      error: '',
      attempts: 3,
      startedAtMs: 2_500,
      finishedAtMs: 3_000,
    };
    const finishedEvent = createEvent({ id: EVENT_IDS.finished('t1', 3), component: 'worker', type: EVENT_TYPES.finished, taskId: 't1', data: finished });
    expect([...published, retryingElsewhere, finishedEvent].map((event) => toRunRecords(JSON.stringify(event)))).toEqual([
      [end('t1', 1, 2_000)],
      [],
      [],
      [end('t1', 3, 3_000)],
    ]);
  });

  it("reads a handler start from the worker's RUNNING step, which carries its audit record", async () => {
    const { emit, published } = captureEmitter(5_000);
    await emit.step('t2', [{ state: 'RUNNING', attempt: 1 }], { action: 'handler.started', attempt: 1, detail: 'type echo' });
    await emit.step('t2', [{ state: 'RUNNING', attempt: 1, progress: 50 }]);
    expect(published.map((event) => toRunRecords(JSON.stringify(event)))).toEqual([[start('t2', 1, 5_000)], []]);
  });

  it('reads nothing from bytes that are not a CloudEvent or from a record missing a field', () => {
    expect(toRunRecords(new Uint8Array([0xff, 0xfe, 0x00]))).toEqual([]);
    expect(toRunRecords('{"hello":"not a CloudEvent"}')).toEqual([]);
    const noAttempt = { type: EVENT_TYPES.auditRecorded, data: { taskId: 't', action: 'handler.started', atMs: 1 } };
    expect(toRunRecords(JSON.stringify(noAttempt))).toEqual([]);
  });
});

describe('createRunLedger', () => {
  it('counts a second run with the same attempt, and an exact re-publish of one start once', () => {
    const ledger = createRunLedger([start('t', 1, 1_000), start('t', 1, 1_000), start('t', 1, 4_000)]);
    expect(ledger.runsOf('t')).toBe(2);
    expect(ledger.attemptsOf('t')).toEqual([1, 1]);
    expect(ledger.runsOf('never')).toBe(0);
  });

  it('a task is running from its latest start until an end of the same attempt', () => {
    const ledger = createRunLedger([
      // ran once, ended at 2,000
      start('done', 1, 1_000),
      end('done', 1, 2_000),
      // its first run died without an end; the second (same attempt) ended at 6,000
      start('rerun', 1, 1_000),
      start('rerun', 1, 5_000),
      end('rerun', 1, 6_000),
      // failed at attempt 1 (RETRYING), attempt 2 never ended
      start('open', 1, 1_000),
      end('open', 1, 1_500),
      start('open', 2, 3_000),
    ]);
    expect([...ledger.runningAt(500)]).toEqual([]);
    expect([...ledger.runningAt(1_200)].sort()).toEqual(['done', 'open', 'rerun']);
    expect([...ledger.runningAt(2_500)].sort()).toEqual(['rerun']);
    expect([...ledger.runningAt(5_500)].sort()).toEqual(['open', 'rerun']);
    expect([...ledger.runningAt(7_000)].sort()).toEqual(['open']);
    expect([...ledger.startedBetween(1_000, 5_000)].sort()).toEqual(['open', 'rerun']);
    expect([...ledger.endedBetween(1_500, 2_000)].sort()).toEqual(['done', 'open']);
  });
});
