// Queues: depth, in flight, age of the oldest message and pause state of every queue (operator
// tenants only: the gateway decides), pause/resume per queue, the delayed tasks and dead
// letters, and throughput: the caller's tasks created in the last minute and how many finished.
import type { QueueStat, QueueStats } from '../../client/types';
import { request } from './api';
import { h, replaceChildren } from './dom';
import { formatDuration, perMinute } from './format';
import { poll, type View } from './poll';

export const QUEUE_POLL_MS = 2_000;

type Throughput = { windowMs: number; submitted: number; succeeded: number; failed: number; truncated: boolean };

function queueRow(queue: QueueStat, refresh: () => Promise<void>): HTMLTableRowElement {
  const action = queue.paused ? 'resume' : 'pause';
  const button = h('button', { type: 'button', class: action, 'data-queue': queue.queue }, queue.paused ? 'Resume' : 'Pause');
  button.addEventListener('click', () => {
    button.disabled = true;
    void request('POST', `/api/queues/${encodeURIComponent(queue.queue)}/${action}`, {})
      .then(() => refresh())
      .finally(() => (button.disabled = false));
  });
  return h(
    'tr',
    { 'data-queue': queue.queue, class: queue.paused ? 'paused' : '' },
    h('td', { class: 'queue' }, queue.queue),
    h('td', { class: 'pending num' }, queue.pending),
    h('td', { class: 'in-flight num' }, queue.inFlight),
    h('td', { class: 'oldest num' }, queue.pending > 0 ? formatDuration(queue.oldestPendingAgeMs) : '–'),
    h('td', { class: 'paused-state' }, queue.paused ? 'paused' : 'running'),
    h('td', {}, button),
  );
}

function drawStats(stats: QueueStats, parts: { body: HTMLElement; note: HTMLElement; totals: HTMLElement }, refresh: () => Promise<void>): void {
  replaceChildren(parts.body, ...stats.queues.map((queue) => queueRow(queue, refresh)));
  replaceChildren(
    parts.note,
    stats.queues.length === 0 ? 'Queue figures and pauses are for operator tenants (TM_OPERATOR_TENANTS on the gateway); your key is not one.' : '',
  );
  replaceChildren(
    parts.totals,
    stats.queues.length > 0 ? `Delayed tasks: ${stats.delayed}. ` : '',
    `Your dead letters: ${stats.deadLetters}`,
    stats.deadLettersDropped > 0 ? ` (${stats.deadLettersDropped} dropped by the cap of ${stats.deadLetterCap})` : '',
    '.',
  );
}

function drawThroughput(figures: Throughput, target: HTMLElement): void {
  const finished = figures.succeeded + figures.failed;
  replaceChildren(
    target,
    `Your tasks created in the last ${Math.round(figures.windowMs / 1000)} s: ${figures.truncated ? 'at least ' : ''}${figures.submitted} ` +
      `(${perMinute(figures.submitted, figures.windowMs)}/min); finished: ${finished} (${figures.succeeded} succeeded, ${figures.failed} failed, rejected or cancelled).`,
  );
}

export const queuesView: View = (root) => {
  const body = h('tbody');
  const note = h('p', { id: 'queues-note', class: 'note' });
  const totals = h('p', { id: 'queue-totals' });
  const throughput = h('p', { id: 'throughput' }, 'Reading…');
  replaceChildren(
    root,
    h('h2', {}, 'Queues'),
    note,
    h(
      'table',
      { id: 'queues' },
      h('thead', {}, h('tr', {}, ...['Queue', 'Pending', 'In flight', 'Oldest waiting', 'State', ''].map((label) => h('th', {}, label)))),
      body,
    ),
    totals,
    h('h2', {}, 'Throughput'),
    throughput,
  );
  const refresh = async () => {
    const [stats, figures] = await Promise.all([request<QueueStats>('GET', '/api/queues'), request<Throughput>('GET', '/api/throughput')]);
    drawStats(stats, { body, note, totals }, refresh);
    drawThroughput(figures, throughput);
  };
  return poll(refresh, QUEUE_POLL_MS);
};
