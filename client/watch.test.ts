// followStatus with a scripted transport: the resume, dedupe and backoff rules, no network.
import { status as GrpcStatus } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { TaskManagerClientError } from './errors';
import type { StatusUpdate } from './types';
import { followStatus, toRetryDelayMs, type StreamOpener } from './watch';

const update = (seq: number, state: StatusUpdate['state'] = 'RUNNING'): StatusUpdate => ({
  taskId: 't',
  state,
  stage: 's',
  attempt: 1,
  message: '',
  progress: 0,
  updatedAtMs: seq,
  seq,
});

type Script = { updates: StatusUpdate[]; then?: 'end' | number };

/** Each call of the opener plays the next script: its updates, then ends or throws that gRPC code. */
function scripted(scripts: Script[]) {
  const requests: Array<number | undefined> = [];
  const open: StreamOpener = (afterSeq) => {
    requests.push(afterSeq);
    const script = scripts[requests.length - 1] ?? { updates: [], then: GrpcStatus.UNAVAILABLE };
    return (async function* () {
      for (const item of script.updates) yield item;
      if (typeof script.then === 'number') throw new TaskManagerClientError(script.then, 'scripted');
    })();
  };
  return { open, requests };
}

async function collect(iterable: AsyncIterable<StatusUpdate>) {
  const seen: number[] = [];
  for await (const item of iterable) seen.push(item.seq);
  return seen;
}

const noSleep = { sleep: async () => undefined, random: () => 1 };

describe('followStatus', () => {
  it('resumes after each break with the last seq yielded and drops replayed or older seqs', async () => {
    const { open, requests } = scripted([
      { updates: [update(1, 'QUEUED'), update(2)], then: GrpcStatus.UNAVAILABLE },
      { updates: [update(1, 'QUEUED'), update(2), update(3)], then: GrpcStatus.INTERNAL },
      { updates: [update(2), update(4), update(3), update(5, 'SUCCEEDED'), update(6)], then: 'end' },
    ]);
    expect(await collect(followStatus({ open, ...noSleep }, { afterSeq: 0 }))).toEqual([1, 2, 3, 4, 5]);
    expect(requests).toEqual([0, 2, 3]);
  });

  it('reopens a stream that ends before a terminal state', async () => {
    const { open, requests } = scripted([
      { updates: [update(4)], then: 'end' },
      { updates: [update(5, 'FAILED')], then: 'end' },
    ]);
    expect(await collect(followStatus({ open, ...noSleep }))).toEqual([4, 5]);
    expect(requests).toEqual([undefined, 4]);
  });

  it('reopens without after_seq when the first stream broke before yielding anything', async () => {
    const { open, requests } = scripted([
      { updates: [], then: GrpcStatus.UNAVAILABLE },
      { updates: [update(7, 'CANCELLED')], then: 'end' },
    ]);
    expect(await collect(followStatus({ open, ...noSleep }))).toEqual([7]);
    expect(requests).toEqual([undefined, undefined]);
  });

  it('does not retry errors that a retry cannot fix', async () => {
    for (const code of [GrpcStatus.NOT_FOUND, GrpcStatus.INVALID_ARGUMENT, GrpcStatus.PERMISSION_DENIED]) {
      const { open, requests } = scripted([{ updates: [], then: code }]);
      await expect(collect(followStatus({ open, ...noSleep }))).rejects.toMatchObject({ grpcCode: code });
      expect(requests).toHaveLength(1);
    }
  });

  it('backs off exponentially and gives up after `retries` consecutive failures', async () => {
    const delays: number[] = [];
    const { open, requests } = scripted([]);
    const sleep = async (ms: number) => {
      delays.push(ms);
    };
    const watching = followStatus({ open, sleep, random: () => 1 }, { retry: { retries: 4, initialDelayMs: 100, maxDelayMs: 500 } });
    await expect(collect(watching)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(requests).toHaveLength(5);
    expect(delays).toEqual([100, 200, 400, 500]);
  });

  it('counts failures anew once a reconnect delivers an update', async () => {
    const delays: number[] = [];
    const { open } = scripted([
      { updates: [], then: GrpcStatus.UNAVAILABLE },
      { updates: [update(1)], then: GrpcStatus.UNAVAILABLE },
      { updates: [], then: GrpcStatus.UNAVAILABLE },
      { updates: [update(2, 'SUCCEEDED')], then: 'end' },
    ]);
    const sleep = async (ms: number) => {
      delays.push(ms);
    };
    const seen = await collect(followStatus({ open, sleep, random: () => 1 }, { retry: { retries: 2, initialDelayMs: 10, maxDelayMs: 1000 } }));
    expect(seen).toEqual([1, 2]);
    expect(delays).toEqual([10, 10, 20]);
  });

  it('stops quietly when the signal is aborted during a backoff', async () => {
    const controller = new AbortController();
    const { open, requests } = scripted([{ updates: [update(1)], then: GrpcStatus.UNAVAILABLE }]);
    const sleep = async () => controller.abort();
    expect(await collect(followStatus({ open, sleep }, { signal: controller.signal }))).toEqual([1]);
    expect(requests).toHaveLength(1);
  });
});

describe('toRetryDelayMs', () => {
  it('doubles from the initial delay, caps at the maximum and jitters down to half', () => {
    const policy = { retries: 10, initialDelayMs: 100, maxDelayMs: 1000 };
    expect([1, 2, 3, 4, 5].map((n) => toRetryDelayMs(n, policy, () => 1))).toEqual([100, 200, 400, 800, 1000]);
    expect(toRetryDelayMs(3, policy, () => 0)).toBe(200);
  });
});
