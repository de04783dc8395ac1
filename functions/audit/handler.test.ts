import { describe, expect, it, vi } from 'vitest';
import { EVENT_TYPES, KEYS, type AuditData } from '../../shared/contract';
import { DependencyUnavailableError, ValidationError } from '../../shared/errors';
import { createEvent, type WireEvent } from '../../shared/events';
import { createLogger } from '../../shared/logger';
import type { HandlerContext } from '../../shared/runtime/function-app';
import { createHandler, type AuditDeps } from './handler';

const ctx: HandlerContext = { logger: createLogger('test', 'silent'), attempt: 1, maxDeliver: 5 };

const record: AuditData = {
  taskId: 't-1',
  stage: 'ingest',
  action: 'accepted',
  attempt: 0,
  detail: 'type echo, priority high',
  atMs: 1_700_000_000_000,
};

function auditEvent(data: unknown, id = 't-1:audit:ingest:accepted:0'): WireEvent {
  return createEvent({ id, component: 'ingest', type: EVENT_TYPES.auditRecorded, taskId: 't-1', data });
}

function deps(pushOnce: AuditDeps['pushOnce']): AuditDeps {
  return { pushOnce, maxEntries: 1_000, markerTtlSeconds: 86_400 };
}

describe('audit handler', () => {
  it('accepts only audit.recorded events', () => {
    expect(createHandler(deps(vi.fn())).acceptedTypes).toEqual([EVENT_TYPES.auditRecorded]);
  });

  it('appends the record once per event id, capped, with a marker keyed by the event id', async () => {
    const pushOnce = vi.fn(async () => 1);
    const event = auditEvent({ ...record, extra: 'dropped' });
    await createHandler(deps(pushOnce)).handle(event, ctx);
    expect(pushOnce).toHaveBeenCalledTimes(1);
    const [marker, list, entry, cap, ttl] = pushOnce.mock.calls[0] as unknown as [string, string, string, number, number];
    expect(marker).toBe(KEYS.processed('audit', event.id));
    expect(list).toBe(KEYS.auditEvents);
    expect(JSON.parse(entry)).toEqual({ ...record, eventId: event.id });
    expect(cap).toBe(1_000);
    expect(ttl).toBe(86_400);
  });

  it('acks a repeat (pushOnce answers 0) without an error', async () => {
    await expect(createHandler(deps(vi.fn(async () => 0))).handle(auditEvent(record), ctx)).resolves.toBeUndefined();
  });

  const bad: Array<[string, unknown, string]> = [
    ['data is missing', undefined, 'data'],
    ['data is a string', 'accepted', 'data'],
    ['taskId is empty', { ...record, taskId: '' }, 'data.taskId'],
    ['stage is missing', { ...record, stage: undefined }, 'data.stage'],
    ['action is a number', { ...record, action: 3 }, 'data.action'],
    ['attempt is negative', { ...record, attempt: -1 }, 'data.attempt'],
    ['detail is not a string', { ...record, detail: ['x'] }, 'data.detail'],
    ['atMs is not a number', { ...record, atMs: '2024-01-01' }, 'data.atMs'],
  ];

  it.each(bad)('refuses a record whose %s, naming the field and storing nothing', async (_name, data, field) => {
    const pushOnce = vi.fn(async () => 1);
    const error = await createHandler(deps(pushOnce))
      .handle(auditEvent(data), ctx)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
    expect((error as Error).message).toContain(field);
    expect(pushOnce).not.toHaveBeenCalled();
  });

  it('turns a Redis failure into a retryable DependencyUnavailableError (503)', async () => {
    const cause = new Error('Connection is closed.');
    const error = await createHandler(
      deps(async () => {
        throw cause;
      }),
    )
      .handle(auditEvent(record), ctx)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as DependencyUnavailableError).httpStatus).toBe(503);
    expect((error as DependencyUnavailableError).cause).toBe(cause);
  });
});
