// The dashboard page: the key box, the failure banner, and a hash router over the four views
// (#/queues, #/tasks, #/tasks/<id>, #/dead-letters). Bundled by scripts/build.mjs into
// dist/dashboard/app.js (no framework, no CDN).
import { readKey, saveKey, setFailureListener } from './api';
import { createTaskView } from './task-view';
import { deadLettersView } from './dead-letters-view';
import { byId, replaceChildren } from './dom';
import { toRoute } from './format';
import type { View } from './poll';
import { queuesView } from './queues-view';
import { tasksView } from './tasks-view';

function showKeyState(): void {
  replaceChildren(byId('key-status'), readKey() ? 'key set for this tab' : 'no key (fine while the gateway runs without authentication)');
}

function setUpKeyBox(): void {
  const input = byId<HTMLInputElement>('api-key');
  byId<HTMLFormElement>('key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    saveKey(input.value);
    input.value = '';
    showKeyState();
    hideBanner();
    render();
  });
  byId('forget-key').addEventListener('click', () => {
    saveKey('');
    showKeyState();
    render();
  });
  showKeyState();
}

function hideBanner(): void {
  const banner = byId('banner');
  banner.hidden = true;
  replaceChildren(banner);
}

function setUpBanner(): void {
  setFailureListener((error) => {
    const banner = byId('banner');
    const hint = error.status === 401 ? ' Enter your API key above.' : error.status === 403 ? ' Your key may not do this.' : '';
    replaceChildren(banner, `${error.message}${hint}`);
    banner.hidden = false;
  });
}

let closeView: () => void = () => undefined;

function render(): void {
  closeView();
  const route = toRoute(location.hash);
  const view: View = route.view === 'task' ? createTaskView(route.id) : route.view === 'tasks' ? tasksView : route.view === 'dead-letters' ? deadLettersView : queuesView;
  for (const link of document.querySelectorAll<HTMLAnchorElement>('nav a')) {
    link.classList.toggle('current', link.dataset.view === (route.view === 'task' ? 'tasks' : route.view));
  }
  closeView = view(byId('view'));
}

setUpKeyBox();
setUpBanner();
window.addEventListener('hashchange', () => {
  hideBanner();
  render();
});
render();
