import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors';
import { decodePageToken, encodePageToken, filterDigest, isAfter, matches, toPrimaryIndex, type TaskListQuery } from './task-listing';

const QUERY: TaskListQuery = { tenant: 'acme', states: [], pageSize: 10 };

describe('task listing', () => {
  it('walks one state’s index for one state, the type’s for a type, else all the tenant’s tasks', () => {
    expect(toPrimaryIndex({ states: ['RUNNING'], type: 'echo' })).toEqual({ kind: 'state', state: 'RUNNING' });
    expect(toPrimaryIndex({ states: ['RUNNING', 'QUEUED'], type: 'echo' })).toEqual({ kind: 'type', type: 'echo' });
    expect(toPrimaryIndex({ states: [] })).toEqual({ kind: 'all' });
  });

  it('orders newest first, ties by id descending', () => {
    const cursor = { score: 100, member: 'm' };
    expect(isAfter({ score: 99, member: 'z' }, cursor)).toBe(true);
    expect(isAfter({ score: 100, member: 'a' }, cursor)).toBe(true);
    expect(isAfter({ score: 100, member: 'm' }, cursor)).toBe(false);
    expect(isAfter({ score: 100, member: 'n' }, cursor)).toBe(false);
    expect(isAfter({ score: 101, member: 'a' }, cursor)).toBe(false);
    expect(isAfter({ score: 1, member: 'a' }, undefined)).toBe(true);
  });

  it('checks the filters its index did not apply, the tenant included', () => {
    const status = { taskId: 't', seq: 2, state: 'RUNNING' as const, stage: 'worker', attempt: 1, message: '', progress: 0, updatedAtMs: 1 };
    const task = { fields: { task_id: 't', tenant: 'acme', type: 'echo', priority: 'high' }, status };
    expect(matches(task, QUERY)).toBe(true);
    expect(matches(task, { ...QUERY, tenant: 'globex' })).toBe(false);
    expect(matches(task, { ...QUERY, type: 'hash' })).toBe(false);
    expect(matches(task, { ...QUERY, priority: 'low' })).toBe(false);
    expect(matches(task, { ...QUERY, states: ['QUEUED', 'RUNNING'] })).toBe(true);
    expect(matches(task, { ...QUERY, states: ['QUEUED'] })).toBe(false);
    // A task whose record expired or was removed while its id was still in an index.
    expect(matches({ fields: {}, status: undefined }, QUERY)).toBe(false);
  });

  it('a page token comes back as the position it holds, only to a listing with the same filters', () => {
    const digest = filterDigest(QUERY);
    const token = encodePageToken({ score: 1_700_000_000_123, member: 'task-9' }, digest);
    expect(decodePageToken(token, digest)).toEqual({ score: 1_700_000_000_123, member: 'task-9' });
    expect(filterDigest({ ...QUERY, states: ['FAILED', 'QUEUED'] })).toBe(filterDigest({ ...QUERY, states: ['QUEUED', 'FAILED'] }));
    expect(() => decodePageToken(token, filterDigest({ ...QUERY, type: 'echo' }))).toThrow(/page_token: belongs to a listing with other filters/);
    expect(() => decodePageToken(token, filterDigest({ ...QUERY, tenant: 'globex' }))).toThrow(ValidationError);
    for (const bad of ['', 'not a token', Buffer.from('{"s":"x","m":"a"}').toString('base64url'), Buffer.from('[1]').toString('base64url')]) {
      expect(() => decodePageToken(bad, digest), bad).toThrow(/page_token: is not a page token/);
    }
  });
});
