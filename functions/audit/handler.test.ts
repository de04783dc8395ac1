import { describe, expect, it, vi } from 'vitest';
import { EVENT_TYPES, type AuditData } from '../../shared/contract';
import { createStepEvent } from '../../shared/emit';
import { ValidationError } from '../../shared/errors';
import { createEvent, type WireEvent } from '../../shared/events';
import { createLogger } from '../../shared/logger';
import type { HandlerContext } from '../../shared/runtime/function-app';
import { createHandler } from './handler';

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

function withLog(appended = true) {
  const appendOnce = vi.fn(async (_id: string, _entry: object) => appended);
  return { appendOnce, handler: createHandler({ log: { appendOnce } }) };
}

describe('audit handler', () => {
  it('accepts audit.recorded and status.changed events', () => {
    expect(withLog().handler.acceptedTypes).toEqual([EVENT_TYPES.auditRecorded, EVENT_TYPES.statusChanged]);
  });

  it('appends a standalone record once per event id, with only the known fields', async () => {
    const { appendOnce, handler } = withLog();
    const event = auditEvent({ ...record, extra: 'dropped' });
    await handler.handle(event, ctx);
    expect(appendOnce).toHaveBeenCalledTimes(1);
    expect(appendOnce).toHaveBeenCalledWith(event.id, { ...record, eventId: event.id });
  });

  it("appends a status step's record under the id its own audit event would have", async () => {
    const { appendOnce, handler } = withLog();
    const step = createStepEvent({
      component: 'ingest',
      taskId: 't-1',
      states: [{ state: 'VALIDATED' }, { state: 'ENRICHED' }],
      audit: { action: 'accepted', detail: record.detail },
      nowMs: record.atMs,
    });
    await handler.handle(step, ctx);
    expect(appendOnce).toHaveBeenCalledWith('t-1:audit:ingest:accepted:0', { ...record, eventId: 't-1:audit:ingest:accepted:0' });
  });

  it('acks a status step without a record (a progress report) and appends nothing', async () => {
    const { appendOnce, handler } = withLog();
    const step = createStepEvent({ component: 'worker', taskId: 't-1', states: [{ state: 'RUNNING', attempt: 1, progress: 40 }], nowMs: 1 });
    await handler.handle(step, ctx);
    expect(appendOnce).not.toHaveBeenCalled();
  });

  it('acks a repeat (the log had the id) without an error', async () => {
    await expect(withLog(false).handler.handle(auditEvent(record), ctx)).resolves.toBeUndefined();
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
    const { appendOnce, handler } = withLog();
    const error = await handler.handle(auditEvent(data), ctx).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
    expect((error as Error).message).toContain(field);
    expect(appendOnce).not.toHaveBeenCalled();
  });

  it("refuses a status step whose record is malformed or names another task, storing nothing", async () => {
    const { appendOnce, handler } = withLog();
    const transitions = [{ state: 'RUNNING', attempt: 1, message: '', progress: 0, updatedAtMs: 1 }];
    for (const [audit, field] of [
      [{ ...record, action: '' }, 'data.audit.action'],
      ['started', 'data.audit'],
      [{ ...record, taskId: 't-2' }, 'data.audit.taskId'],
    ] as const) {
      const event = createEvent({ id: 's-1', component: 'worker', type: EVENT_TYPES.statusChanged, taskId: 't-1', data: { taskId: 't-1', stage: 'worker', transitions, audit } });
      const error = await handler.handle(event, ctx).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe(field);
    }
    expect(appendOnce).not.toHaveBeenCalled();
  });
});
