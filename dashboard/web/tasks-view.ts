// Tasks: the submit form (types from ListTaskTypes), and the caller's tasks newest first with
// filters (state, type, priority) and paging, refreshed every two seconds so new tasks appear
// and finish live. Each row links to the task's page.
import type { SubmitResult, Task, TaskPage, TaskType } from '../../client/types';
import { request } from './api';
import { h, replaceChildren } from './dom';
import { FILTER_STATES, formatTime, stateClass, taskHref, toQueryString, truncate } from './format';
import { latestOnly, poll, type View } from './poll';

export const TASKS_POLL_MS = 2_000;
const PAGE_SIZE = 25;

function select(id: string, options: readonly (readonly [string, string])[]): HTMLSelectElement {
  return h('select', { id, name: id }, ...options.map(([value, label]) => h('option', { value }, label)));
}

function field(label: string, control: HTMLElement): HTMLLabelElement {
  return h('label', {}, h('span', {}, label), control);
}

function submitForm(onSubmitted: () => void): HTMLFormElement {
  const type = select('submit-type', []);
  const payload = h('textarea', { id: 'submit-payload', rows: 3, spellcheck: 'false' });
  payload.value = '{}';
  const priority = select('submit-priority', [['medium', 'medium'], ['high', 'high'], ['low', 'low']]);
  const maxAttempts = h('input', { id: 'submit-max-attempts', type: 'number', min: 0, max: 5, value: 0 });
  const result = h('p', { id: 'submit-result', role: 'status' });
  void request<{ types: TaskType[] }>('GET', '/api/types').then(({ types }) =>
    replaceChildren(type, ...types.map((taskType) => h('option', { value: taskType.name }, taskType.name))),
  );
  const form = h(
    'form',
    { id: 'submit-form', class: 'card' },
    h('h2', {}, 'Submit a task'),
    field('Type', type),
    field('Payload (JSON)', payload),
    field('Priority', priority),
    field('Max attempts (0 = the type’s)', maxAttempts),
    h('button', { type: 'submit' }, 'Submit'),
    result,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const body = { type: type.value, payload: payload.value, priority: priority.value, maxAttempts: Number(maxAttempts.value || 0) };
    request<SubmitResult>('POST', '/api/tasks', body).then(
      (submitted) => {
        replaceChildren(result, 'Submitted ', h('a', { href: taskHref(submitted.taskId), class: 'task-link' }, submitted.taskId), submitted.duplicate ? ' (duplicate)' : '');
        onSubmitted();
      },
      (error: Error) => replaceChildren(result, h('span', { class: 'error' }, error.message)),
    );
  });
  return form;
}

function taskRow(task: Task): HTMLTableRowElement {
  const state = task.status?.state ?? 'TASK_STATE_UNSPECIFIED';
  return h(
    'tr',
    { 'data-task-id': task.taskId, 'data-state': state },
    h('td', {}, h('a', { href: taskHref(task.taskId) }, task.taskId)),
    h('td', { class: 'type' }, task.type),
    h('td', {}, h('span', { class: `state ${stateClass(state)}` }, state)),
    h('td', {}, task.priority),
    h('td', { class: 'num' }, task.attempts),
    h('td', {}, formatTime(task.createdAtMs)),
    h('td', { class: 'payload' }, truncate(task.payloadText, 80)),
  );
}

type Filters = { state: string; type: string; priority: string };

function filterForm(onChange: (filters: Filters) => void): HTMLFormElement {
  const state = select('filter-state', [['', 'any state'], ...FILTER_STATES.map((name) => [name, name] as const)]);
  const type = h('input', { id: 'filter-type', type: 'text', placeholder: 'any type' });
  const priority = select('filter-priority', [['', 'any priority'], ['high', 'high'], ['medium', 'medium'], ['low', 'low']]);
  const form = h('form', { id: 'task-filters', class: 'filters' }, field('State', state), field('Type', type), field('Priority', priority), h('button', { type: 'submit' }, 'Filter'));
  const changed = () => onChange({ state: state.value, type: type.value.trim(), priority: priority.value });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    changed();
  });
  state.addEventListener('change', changed);
  priority.addEventListener('change', changed);
  return form;
}

export const tasksView: View = (root) => {
  let filters: Filters = { state: '', type: '', priority: '' };
  /** Tokens of the pages before the current one; the current page's token last. */
  const tokens: (string | undefined)[] = [undefined];
  let next: string | undefined;
  const body = h('tbody');
  const older = h('button', { type: 'button', id: 'next-page' }, 'Older →');
  const newer = h('button', { type: 'button', id: 'prev-page' }, '← Newer');
  const refresh = latestOnly(
    () => {
      const query = toQueryString({ state: filters.state, type: filters.type, priority: filters.priority, pageSize: PAGE_SIZE, pageToken: tokens.at(-1) });
      return request<TaskPage>('GET', `/api/tasks${query}`);
    },
    (page) => {
      next = page.nextPageToken;
      replaceChildren(body, ...page.tasks.map(taskRow));
      older.disabled = next === undefined;
      newer.disabled = tokens.length <= 1;
    },
  );
  older.addEventListener('click', () => {
    if (next === undefined) return;
    tokens.push(next);
    void refresh();
  });
  newer.addEventListener('click', () => {
    if (tokens.length > 1) tokens.pop();
    void refresh();
  });
  const filterBar = filterForm((changed) => {
    filters = changed;
    tokens.splice(1);
    void refresh();
  });
  const head = h('thead', {}, h('tr', {}, ...['Task', 'Type', 'State', 'Priority', 'Attempts', 'Created (UTC)', 'Payload'].map((label) => h('th', {}, label))));
  replaceChildren(root, submitForm(() => void refresh()), h('h2', {}, 'Your tasks'), filterBar, h('table', { id: 'tasks' }, head, body), h('p', { class: 'pager' }, newer, older));
  return poll(refresh, TASKS_POLL_MS);
};
