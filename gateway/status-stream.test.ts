import { describe, expect, it } from 'vitest';
import type { StoredStatus, TaskStateName } from '../shared/contract';
import { NotFoundError } from '../shared/errors';
import type { StatusListener } from './status-hub';
import { runStatusStream, type StatusReads } from './status-stream';

const TASK = 't1';

function status(seq: number, state: TaskStateName): StoredStatus {
  return { taskId: TASK, seq, state, stage: 'test', attempt: 0, message: '', progress: 0, updatedAtMs: seq };
}

/** What Redis publishes on the channel: the history entry, without taskId. */
function wire(entry: StoredStatus): string {
  const { taskId: _taskId, ...rest } = entry;
  return JSON.stringify(rest);
}

/**
 * A task whose history the test controls. `publish` appends and, like the Lua script, publishes
 * on the channel; `during` hooks run inside a read, to interleave a change with it.
 */
function createTask(initial: TaskStateName[] = ['QUEUED']) {
  const history: StoredStatus[] = initial.map((state, index) => status(index + 1, state));
  const listeners = new Set<StatusListener>();
  const log: string[] = [];
  let duringRead: (() => void) | undefined;
  let historyReads = 0;
  const publish = (state: TaskStateName, options: { deliver?: boolean } = {}) => {
    const entry = status(history.length + 1, state);
    history.push(entry);
    if (options.deliver !== false) for (const listener of listeners) listener.onMessage(wire(entry));
    return entry;
  };
  const hub = {
    async subscribe(_channel: string, listener: StatusListener) {
      log.push('subscribe');
      listeners.add(listener);
      return () => {
        log.push('release');
        listeners.delete(listener);
      };
    },
  };
  const reads: StatusReads = {
    async taskExists() {
      return history.length > 0;
    },
    async readStatus() {
      log.push('read status');
      const hook = duringRead;
      duringRead = undefined;
      const snapshot = history.at(-1);
      hook?.();
      return snapshot;
    },
    async readHistory(_id, afterSeq) {
      log.push(`read history after ${afterSeq}`);
      historyReads += 1;
      const hook = duringRead;
      duringRead = undefined;
      const entries = history.filter((entry) => entry.seq > afterSeq);
      hook?.();
      return entries;
    },
  };
  return {
    hub,
    reads,
    log,
    publish,
    listeners,
    historyReads: () => historyReads,
    resync: () => listeners.forEach((listener) => listener.onResync()),
    duringNextRead: (hook: () => void) => {
      duringRead = hook;
    },
  };
}

function createSink() {
  const controller = new AbortController();
  const sent: StoredStatus[] = [];
  return { sink: { send: (update: StoredStatus) => sent.push(update), signal: controller.signal }, sent, abort: () => controller.abort() };
}

const seqs = (sent: StoredStatus[]) => sent.map((entry) => `${entry.seq}:${entry.state}`);
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('runStatusStream', () => {
  it('subscribes before it reads, sends the current state first, then each change, and ends after a terminal state', async () => {
    const task = createTask(['QUEUED', 'VALIDATED']);
    const { sink, sent } = createSink();
    const done = runStatusStream(task.hub, task.reads, { taskId: TASK, afterSeq: undefined }, sink);
    await tick();
    expect(task.log.slice(0, 2)).toEqual(['subscribe', 'read status']);
    expect(seqs(sent)).toEqual(['2:VALIDATED']);
    task.publish('RUNNING');
    task.publish('SUCCEEDED');
    await done;
    expect(seqs(sent)).toEqual(['2:VALIDATED', '3:RUNNING', '4:SUCCEEDED']);
    expect(task.log.at(-1)).toBe('release');
    expect(task.listeners.size).toBe(0);
  });

  it('sends a change made while the snapshot is read exactly once', async () => {
    const task = createTask(['QUEUED']);
    const { sink, sent } = createSink();
    // Published after the subscription and before the read returns: in the buffer and newer
    // than the snapshot the read saw.
    task.duringNextRead(() => task.publish('VALIDATED'));
    const done = runStatusStream(task.hub, task.reads, { taskId: TASK, afterSeq: undefined }, sink);
    await tick();
    task.publish('FAILED');
    await done;
    expect(seqs(sent)).toEqual(['1:QUEUED', '2:VALIDATED', '3:FAILED']);
  });

  it('drops a buffered change that the history already contained', async () => {
    const task = createTask(['QUEUED']);
    const { sink, sent } = createSink();
    const done = runStatusStream(task.hub, task.reads, { taskId: TASK, afterSeq: 0 }, sink);
    // Arrives in the buffer while the history read is in flight and is also in its result.
    task.publish('VALIDATED');
    await tick();
    task.publish('CANCELLED');
    await done;
    expect(seqs(sent)).toEqual(['1:QUEUED', '2:VALIDATED', '3:CANCELLED']);
  });

  it('replays history after after_seq and ends at once when it holds a terminal state', async () => {
    const task = createTask(['QUEUED', 'VALIDATED', 'RUNNING', 'SUCCEEDED']);
    const { sink, sent } = createSink();
    await runStatusStream(task.hub, task.reads, { taskId: TASK, afterSeq: 1 }, sink);
    expect(seqs(sent)).toEqual(['2:VALIDATED', '3:RUNNING', '4:SUCCEEDED']);
    expect(task.listeners.size).toBe(0);
  });

  it('fills a gap in the live feed from the history', async () => {
    const task = createTask(['QUEUED']);
    const { sink, sent } = createSink();
    const done = runStatusStream(task.hub, task.reads, { taskId: TASK, afterSeq: undefined }, sink);
    await tick();
    task.publish('VALIDATED', { deliver: false });
    task.publish('ENRICHED');
    await tick();
    expect(seqs(sent)).toEqual(['1:QUEUED', '2:VALIDATED', '3:ENRICHED']);
    task.publish('REJECTED');
    await done;
    expect(seqs(sent).at(-1)).toBe('4:REJECTED');
  });

  it('reads what it missed after the hub resubscribed', async () => {
    const task = createTask(['QUEUED']);
    const { sink, sent } = createSink();
    const done = runStatusStream(task.hub, task.reads, { taskId: TASK, afterSeq: undefined }, sink);
    await tick();
    task.publish('VALIDATED', { deliver: false });
    task.publish('SUCCEEDED', { deliver: false });
    task.resync();
    await done;
    expect(seqs(sent)).toEqual(['1:QUEUED', '2:VALIDATED', '3:SUCCEEDED']);
    expect(task.historyReads()).toBe(1);
  });

  it('retries a catch-up read that fails while Redis comes back', async () => {
    const task = createTask(['QUEUED']);
    const { sink, sent } = createSink();
    const done = runStatusStream(task.hub, task.reads, { taskId: TASK, afterSeq: undefined }, sink, [0, 0, 0]);
    await tick();
    const readHistory = task.reads.readHistory;
    let failures = 2;
    task.reads.readHistory = async (id, after) => {
      if (failures > 0) {
        failures -= 1;
        throw new Error("Stream isn't writeable and enableOfflineQueue options is false");
      }
      return readHistory(id, after);
    };
    task.publish('VALIDATED', { deliver: false });
    task.publish('SUCCEEDED', { deliver: false });
    task.resync();
    await done;
    expect(failures).toBe(0);
    expect(seqs(sent)).toEqual(['1:QUEUED', '2:VALIDATED', '3:SUCCEEDED']);
  });

  it('gives up with the read error once the retries are spent', async () => {
    const task = createTask(['QUEUED']);
    const { sink } = createSink();
    const done = runStatusStream(task.hub, task.reads, { taskId: TASK, afterSeq: undefined }, sink, [0]);
    await tick();
    task.reads.readHistory = async () => {
      throw new Error('redis down');
    };
    task.resync();
    await expect(done).rejects.toThrow('redis down');
    expect(task.listeners.size).toBe(0);
  });

  it('releases the subscription as soon as the client goes away', async () => {
    const task = createTask(['QUEUED']);
    const { sink, abort } = createSink();
    const done = runStatusStream(task.hub, task.reads, { taskId: TASK, afterSeq: undefined }, sink);
    await tick();
    expect(task.listeners.size).toBe(1);
    abort();
    expect(task.listeners.size).toBe(0);
    await done;
    expect(task.log.filter((entry) => entry === 'release')).toHaveLength(1);
  });

  it('asks whether the task exists and reads where it starts at once, not one after the other', async () => {
    const task = createTask(['QUEUED']);
    const { sink, sent } = createSink();
    let answerExists: (exists: boolean) => void = () => undefined;
    task.reads.taskExists = () => new Promise((resolve) => (answerExists = resolve));
    const done = runStatusStream(task.hub, task.reads, { taskId: TASK, afterSeq: 0 }, sink);
    await tick();
    expect(task.log).toEqual(['subscribe', 'read history after 0']);
    expect(sent).toEqual([]);
    answerExists(true);
    await tick();
    expect(seqs(sent)).toEqual(['1:QUEUED']);
    task.publish('SUCCEEDED');
    await done;
  });

  it('answers NOT_FOUND for a task the caller may not see, even when reading its status failed too', async () => {
    const task = createTask(['QUEUED']);
    const { sink, sent } = createSink();
    task.reads.taskExists = async () => false;
    task.reads.readStatus = async () => {
      throw new Error('redis down');
    };
    await expect(runStatusStream(task.hub, task.reads, { taskId: TASK, afterSeq: undefined }, sink)).rejects.toBeInstanceOf(NotFoundError);
    expect(sent).toEqual([]);
    expect(task.listeners.size).toBe(0);
  });

  it('answers NOT_FOUND for an unknown task and releases its subscription', async () => {
    const task = createTask([]);
    const { sink } = createSink();
    await expect(runStatusStream(task.hub, task.reads, { taskId: TASK, afterSeq: undefined }, sink)).rejects.toBeInstanceOf(NotFoundError);
    expect(task.listeners.size).toBe(0);
  });
});
