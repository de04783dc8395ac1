import { describe, expect, it } from 'vitest';
import { encodePageToken, filterDigest } from '../shared/task-listing';
import { toListQuery } from './list-tasks';

describe('ListTasks requests', () => {
  it('reads the filters, the page size and the token into the caller’s listing', () => {
    expect(toListQuery({}, 'acme')).toEqual({ tenant: 'acme', states: [], type: undefined, priority: undefined, createdAfterMs: undefined, createdBeforeMs: undefined, pageSize: 50 });
    const query = toListQuery({ states: ['FAILED', 'REJECTED', 'FAILED'], type: 'echo', priority: 'PRIORITY_HIGH', created_after_ms: 5, created_before_ms: 9, page_size: 1000 }, 'acme');
    expect(query).toMatchObject({ states: ['FAILED', 'REJECTED'], type: 'echo', priority: 'high', createdAfterMs: 5, createdBeforeMs: 9, pageSize: 1000 });
    const token = encodePageToken({ score: 7, member: 'x' }, filterDigest(query));
    expect(toListQuery({ states: ['FAILED', 'REJECTED'], type: 'echo', priority: 'PRIORITY_HIGH', created_after_ms: 5, created_before_ms: 9, page_size: 1000, page_token: token }, 'acme').after).toEqual({ score: 7, member: 'x' });
    // The same token from another tenant's call does not fit its listing.
    expect(() => toListQuery({ states: ['FAILED', 'REJECTED'], type: 'echo', priority: 'PRIORITY_HIGH', created_after_ms: 5, created_before_ms: 9, page_token: token }, 'globex')).toThrow(/page_token/);
  });

  it.each([
    [{ page_size: 1001 }, /^page_size: must be 0 \(the default, 50\) or 1\.\.1000, got 1001/],
    [{ page_size: -1 }, /^page_size:/],
    [{ states: ['DONE'] }, /^states: unknown state\(s\) DONE/],
    [{ type: 'a.b' }, /^type: may contain only/],
    [{ created_after_ms: -5 }, /^created_after_ms: must be a time in epoch ms/],
    [{ page_token: 'garbage' }, /^page_token: is not a page token/],
  ])('refuses %j naming the field', (request, message) => {
    expect(() => toListQuery(request as never, 'acme')).toThrow(message);
  });
});
