// Reading what a handler published in unit tests: a status event is a stage step (its
// transitions and its audit record), an audit event a record of its own.
import { EVENT_TYPES, SUBJECTS, type AuditData, type StatusStep, type StatusTransition, type StatusUpdate } from '../../shared/contract';
import type { WireEvent } from '../../shared/events';

export type Sent = { subject: string; event: WireEvent };

export function toStep(event: WireEvent): StatusStep {
  return event.data as StatusStep;
}

/** The last transition of a status event: the state it leaves its task in. */
export function lastTransition(event: WireEvent): StatusTransition {
  return toStep(event).transitions.at(-1)!;
}

/** Every transition published, in order, flattened over the status events of `sent`. */
export function transitionsOf(sent: readonly Sent[]): StatusTransition[] {
  return sent.filter((s) => s.subject === SUBJECTS.status).flatMap((s) => toStep(s.event).transitions);
}

/** `status VALIDATED,ENRICHED audit accepted`, `audit skipped.cancelled`, `tasks.schedule <type>`;
 * with `attempts`, each state and record says its attempt (`RUNNING#2`). */
export function describeSent(sent: readonly Sent[], options: { attempts?: boolean } = {}): string[] {
  const n = (attempt: number) => (options.attempts ? `#${attempt}` : '');
  const describeAudit = (audit: AuditData) => `audit ${audit.action}${options.attempts ? ` ${n(audit.attempt)}` : ''}`;
  return sent.map(({ subject, event }) => {
    if (subject === SUBJECTS.status) {
      const step = toStep(event);
      const states = step.transitions.map((t) => `${t.state}${n(t.attempt)}`).join(',');
      return step.audit ? `status ${states} ${describeAudit(step.audit)}` : `status ${states}`;
    }
    if (subject === SUBJECTS.audit) return describeAudit(event.data as AuditData);
    return `${subject} ${event.type}`;
  });
}

/** The status updates a status event carries: its step's transitions, each with the task and
 * stage (what the notifier applies). */
export function toStatusUpdates(event: WireEvent): StatusUpdate[] {
  const step = toStep(event);
  return step.transitions.map((next) => ({ taskId: step.taskId, stage: step.stage, ...next }));
}

/** The audit records an event carries: an audit event's data, a status step's record. */
export function toAuditRecords(event: WireEvent): AuditData[] {
  if (event.type === EVENT_TYPES.auditRecorded) return [event.data as AuditData];
  if (event.type === EVENT_TYPES.statusChanged) {
    const audit = toStep(event).audit;
    return audit ? [audit] : [];
  }
  return [];
}
