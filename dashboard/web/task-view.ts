// One task: its details and payload, its live status (timeline of every status change from the
// SSE stream, the progress bar, the current message), its result once it has finished, and its
// audit trail (re-read while the task runs and shortly after, since audit records arrive on
// their own). Cancel while it has not finished.
import type { AuditEvent, StatusUpdate, Task, TaskResult } from '../../client/types';
import { ApiError, followEvents, request } from './api';
import { h, replaceChildren } from './dom';
import { clampProgress, formatTime, isTerminal, prettyJson, stateClass, taskHref } from './format';
import { poll, type View } from './poll';

export const AUDIT_POLL_MS = 2_000;
const RECONNECT_MS = 1_000;

type Parts = {
  state: HTMLElement;
  progress: HTMLProgressElement;
  message: HTMLElement;
  timeline: HTMLOListElement;
  result: HTMLElement;
  audit: HTMLElement;
  cancel: HTMLButtonElement;
};

function timelineItem(update: StatusUpdate): HTMLLIElement {
  return h(
    'li',
    { 'data-seq': update.seq, 'data-state': update.state },
    h('span', { class: 'seq' }, `#${update.seq}`),
    ' ',
    h('span', { class: 'when' }, formatTime(update.updatedAtMs)),
    ' ',
    h('span', { class: `state ${stateClass(update.state)}` }, update.state),
    ` ${update.stage} attempt ${update.attempt} ${update.progress}%`,
    update.message ? h('span', { class: 'message' }, ` — ${update.message}`) : '',
  );
}

function showStatus(parts: Parts, update: StatusUpdate): void {
  replaceChildren(parts.state, update.state);
  parts.state.className = `state ${stateClass(update.state)}`;
  parts.progress.value = update.state === 'SUCCEEDED' ? 100 : clampProgress(update.progress);
  replaceChildren(parts.message, update.message);
  parts.cancel.hidden = isTerminal(update.state);
}

async function showResult(taskId: string, target: HTMLElement): Promise<void> {
  try {
    const result = await request<TaskResult>('GET', `/api/tasks/${encodeURIComponent(taskId)}/result`);
    replaceChildren(
      target,
      h('p', {}, `${result.state} after ${result.attempts} attempt(s), finished ${formatTime(result.finishedAtMs)}`),
      result.outputText ? h('pre', { id: 'task-output' }, prettyJson(result.outputText)) : '',
      result.error ? h('p', { id: 'task-error', class: 'error' }, result.error) : '',
    );
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) replaceChildren(target, h('p', { id: 'task-error' }, 'No stored result (the task ended before it ran).'));
    else throw error;
  }
}

function auditRow(event: AuditEvent): HTMLTableRowElement {
  return h('tr', {}, h('td', {}, formatTime(event.atMs)), h('td', {}, event.stage), h('td', { class: 'action' }, event.action), h('td', { class: 'num' }, event.attempt), h('td', {}, event.detail));
}

/** Follows the status stream, resuming after the last seq seen when it breaks, until the task ends. */
function followStatus(taskId: string, parts: Parts, signal: AbortSignal, onTerminal: () => void): void {
  let lastSeq = 0;
  let ended = false;
  const open = async (): Promise<void> => {
    await followEvents(
      `/api/tasks/${encodeURIComponent(taskId)}/events?afterSeq=${lastSeq}`,
      (event) => {
        if (event.event === 'status') {
          const update = JSON.parse(event.data) as StatusUpdate;
          if (update.seq <= lastSeq) return;
          lastSeq = update.seq;
          parts.timeline.append(timelineItem(update));
          showStatus(parts, update);
          if (isTerminal(update.state)) ended = true;
        } else if (event.event === 'error') {
          replaceChildren(parts.message, h('span', { class: 'error' }, (JSON.parse(event.data) as { message: string }).message));
        }
      },
      signal,
    ).catch(() => undefined);
    if (ended) onTerminal();
    else if (!signal.aborted) setTimeout(() => void open(), RECONNECT_MS);
  };
  void open();
}

function layout(root: HTMLElement, task: Task, parts: Parts): void {
  const metadata = Object.entries(task.metadata).map(([key, value]) => h('li', {}, `${key} = ${value}`));
  const replayOf = task.metadata.replay_of;
  replaceChildren(
    root,
    h('h2', {}, 'Task ', h('code', { id: 'task-id' }, task.taskId)),
    h(
      'dl',
      { class: 'details' },
      h('dt', {}, 'Type'), h('dd', { id: 'task-type' }, task.type),
      h('dt', {}, 'Priority'), h('dd', {}, task.priority),
      h('dt', {}, 'Created (UTC)'), h('dd', {}, formatTime(task.createdAtMs)),
      h('dt', {}, 'State'), h('dd', {}, parts.state, ' ', parts.progress, ' ', parts.message, ' ', parts.cancel),
      replayOf ? h('dt', {}, 'Replay of') : '', replayOf ? h('dd', {}, h('a', { href: taskHref(replayOf) }, replayOf)) : '',
      metadata.length > 0 ? h('dt', {}, 'Metadata') : '', metadata.length > 0 ? h('dd', {}, h('ul', {}, ...metadata)) : '',
    ),
    h('h3', {}, 'Payload'),
    h('pre', { id: 'task-payload' }, prettyJson(task.payloadText)),
    h('h3', {}, 'Result'),
    parts.result,
    h('h3', {}, 'Status timeline'),
    parts.timeline,
    h('h3', {}, 'Audit trail'),
    h('table', { id: 'audit' }, h('thead', {}, h('tr', {}, ...['When (UTC)', 'Stage', 'Action', 'Attempt', 'Detail'].map((label) => h('th', {}, label)))), parts.audit),
  );
}

export function createTaskView(taskId: string): View {
  return (root) => {
    const abort = new AbortController();
    const parts: Parts = {
      state: h('span', { id: 'task-state', class: 'state' }, '…'),
      progress: h('progress', { id: 'task-progress', max: 100, value: 0 }),
      message: h('span', { id: 'task-message' }),
      timeline: h('ol', { id: 'timeline' }),
      result: h('div', { id: 'task-result' }, 'Not finished yet.'),
      audit: h('tbody'),
      cancel: h('button', { type: 'button', id: 'cancel-task' }, 'Cancel'),
    };
    parts.cancel.addEventListener('click', () => void request('POST', `/api/tasks/${encodeURIComponent(taskId)}/cancel`, {}).catch(() => undefined));
    let finishedAt: number | undefined;
    let stopAudit: () => void = () => undefined;
    replaceChildren(root, h('p', {}, 'Loading…'));
    request<Task>('GET', `/api/tasks/${encodeURIComponent(taskId)}`).then(
      (task) => {
        if (abort.signal.aborted) return;
        layout(root, task, parts);
        followStatus(taskId, parts, abort.signal, () => {
          finishedAt = Date.now();
          void showResult(taskId, parts.result);
        });
        stopAudit = poll(async () => {
          if (finishedAt !== undefined && Date.now() - finishedAt > 10_000) return;
          const page = await request<{ events: AuditEvent[] }>('GET', `/api/tasks/${encodeURIComponent(taskId)}/audit`);
          replaceChildren(parts.audit, ...page.events.map(auditRow));
        }, AUDIT_POLL_MS);
      },
      (error: Error) => replaceChildren(root, h('h2', {}, 'Task'), h('p', { class: 'error' }, error.message)),
    );
    return () => {
      abort.abort();
      stopAudit();
    };
  };
}
