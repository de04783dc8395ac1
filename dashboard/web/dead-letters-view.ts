// Dead letters: the caller's, newest first, filtered by type and stage; replay one, the selected
// ones, or every one the filters match — each after a confirmation in the page's own dialog.
// A replay makes a new task (linked), and replaying a letter again returns the task it made.
import type { DeadLetter, DeadLetterPage, ReplayResult } from '../../client/types';
import { request } from './api';
import { byId, h, replaceChildren } from './dom';
import { formatTime, taskHref, toQueryString, truncate } from './format';
import { latestOnly, poll, type View } from './poll';

export const DEAD_LETTERS_POLL_MS = 3_000;

/** Asks in the page's <dialog> (not window.confirm): resolves true for "Replay", false otherwise. */
export function confirmAction(text: string, confirmLabel: string): Promise<boolean> {
  const dialog = byId<HTMLDialogElement>('confirm-dialog');
  replaceChildren(byId('confirm-text'), text);
  replaceChildren(byId('confirm-yes'), confirmLabel);
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'yes'), { once: true }));
}

function showReplay(result: ReplayResult, target: HTMLElement): void {
  const made = result.replayed - result.alreadyReplayed;
  const links = result.taskIds.flatMap((taskId, index) => [index > 0 ? ', ' : '', h('a', { href: taskHref(taskId), class: 'task-link' }, taskId)]);
  replaceChildren(
    target,
    `Replayed ${made} dead letter(s) as new tasks`,
    result.alreadyReplayed > 0 ? ` (${result.alreadyReplayed} had been replayed before)` : '',
    result.skipped.length > 0 ? `; skipped ${result.skipped.map((skip) => `${skip.id}: ${skip.reason}`).join('; ')}` : '',
    result.taskIds.length > 0 ? ': ' : '.',
    ...links,
  );
}

async function replay(body: Record<string, unknown>, question: string, target: HTMLElement, refresh: () => Promise<void>): Promise<void> {
  if (!(await confirmAction(question, 'Replay'))) return;
  try {
    showReplay(await request<ReplayResult>('POST', '/api/dead-letters/replay', body), target);
  } catch (error) {
    replaceChildren(target, h('span', { class: 'error' }, (error as Error).message));
  }
  await refresh();
}

type Row = { letter: DeadLetter; selected: Set<string>; onReplay: (letter: DeadLetter) => void };

function letterRow({ letter, selected, onReplay }: Row): HTMLTableRowElement {
  const box = h('input', { type: 'checkbox', class: 'select', 'aria-label': `select ${letter.id}`, checked: selected.has(letter.id) });
  box.addEventListener('change', () => (box.checked ? selected.add(letter.id) : selected.delete(letter.id)));
  const button = h('button', { type: 'button', class: 'replay' }, letter.replayedAs ? 'Replay again' : 'Replay');
  button.addEventListener('click', () => onReplay(letter));
  return h(
    'tr',
    { 'data-dead-letter-id': letter.id, 'data-task-id': letter.taskId },
    h('td', {}, box),
    h('td', {}, formatTime(letter.deadLetteredAtMs)),
    h('td', {}, h('a', { href: taskHref(letter.taskId) }, letter.taskId)),
    h('td', { class: 'type' }, letter.type),
    h('td', {}, letter.stage),
    h('td', { class: 'num' }, letter.attempts),
    h('td', { class: 'reason' }, truncate(`${letter.reason}${letter.lastError ? `: ${letter.lastError}` : ''}`, 160)),
    h('td', { class: 'replayed-as' }, letter.replayedAs ? h('a', { href: taskHref(letter.replayedAs) }, letter.replayedAs) : ''),
    h('td', {}, button),
  );
}

export const deadLettersView: View = (root) => {
  const selected = new Set<string>();
  const body = h('tbody');
  const result = h('p', { id: 'replay-result', role: 'status' });
  const type = h('input', { id: 'dl-type', type: 'text', placeholder: 'any type' });
  const stage = h('input', { id: 'dl-stage', type: 'text', placeholder: 'any stage' });
  const filters = () => ({ type: type.value.trim(), stage: stage.value.trim() });
  const refresh: () => Promise<void> = latestOnly(
    () => request<DeadLetterPage>('GET', `/api/dead-letters${toQueryString({ ...filters(), pageSize: 100 })}`),
    (page) => {
      const onReplay = (letter: DeadLetter) =>
        void replay({ ids: [letter.id] }, `Replay dead letter ${letter.id} (task ${letter.taskId}, ${letter.type}) as a new task?`, result, refresh);
      replaceChildren(body, ...page.deadLetters.map((letter) => letterRow({ letter, selected, onReplay })));
      replaceChildren(byId('dl-dropped'), page.dropped > 0 ? `${page.dropped} older dead letters were dropped by the per-tenant cap.` : '');
    },
  );
  const form = h('form', { id: 'dl-filters', class: 'filters' }, h('label', {}, 'Type ', type), h('label', {}, 'Stage ', stage), h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void refresh();
  });
  const replaySelected = h('button', { type: 'button', id: 'replay-selected' }, 'Replay selected');
  replaySelected.addEventListener('click', () => {
    if (selected.size === 0) return;
    void replay({ ids: [...selected] }, `Replay the ${selected.size} selected dead letter(s) as new tasks?`, result, refresh).then(() => selected.clear());
  });
  const replayAll = h('button', { type: 'button', id: 'replay-all' }, 'Replay all matching');
  replayAll.addEventListener('click', () => {
    const { type: typeFilter, stage: stageFilter } = filters();
    const scope = [typeFilter && `type ${typeFilter}`, stageFilter && `stage ${stageFilter}`].filter(Boolean).join(', ') || 'no filter: every one of yours';
    void replay({ all: true, ...filters() }, `Replay every dead letter that matches (${scope}) as new tasks?`, result, refresh);
  });
  const head = h('thead', {}, h('tr', {}, ...['', 'When (UTC)', 'Task', 'Type', 'Stage', 'Attempts', 'Reason', 'Replayed as', ''].map((label) => h('th', {}, label))));
  replaceChildren(root, h('h2', {}, 'Dead letters'), form, h('p', {}, replaySelected, ' ', replayAll), result, h('table', { id: 'dead-letters' }, head, body), h('p', { id: 'dl-dropped', class: 'note' }));
  return poll(refresh, DEAD_LETTERS_POLL_MS);
};
