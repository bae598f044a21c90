import { $, api, el, pager, sawEventId, showError, when, type Page, type Root } from './api.js';

export interface Task {
  id: string;
  status: string;
  model: string;
  prompt: string;
  params: Record<string, unknown>;
  progress: number;
  reserved_credits: number;
  final_credits: number;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  completed_at: string | null;
  result: { media: { url: string; width: number; height: number; durationSeconds: number }[] } | null;
  error: { code: string; message: string } | null;
}

const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);
const TASK_EVENTS = ['task.queued', 'task.running', 'task.progress', 'task.succeeded', 'task.failed', 'task.canceled'];

/** Follows a task through its event stream (the cookie authenticates EventSource) until it ends. */
export function followTask(task: Task, onTask: (task: Task) => void): void {
  onTask(task);
  if (TERMINAL.has(task.status)) return;
  const source = new EventSource(`/api/v1/tasks/${encodeURIComponent(task.id)}/events`);
  const handle = (event: MessageEvent<string>) => {
    sawEventId(event.lastEventId);
    const current = (JSON.parse(event.data) as { data: { task: Task } }).data.task;
    onTask(current);
    if (TERMINAL.has(current.status)) source.close();
  };
  for (const type of TASK_EVENTS) source.addEventListener(type, handle);
  source.onerror = () => {
    // The stream closes after the terminal event; anything else: read the task once, then follow again.
    if (source.readyState === EventSource.CLOSED) {
      void api<Task>('GET', `/api/v1/tasks/${encodeURIComponent(task.id)}`).then((current) => {
        if (!TERMINAL.has(current.status)) followTask(current, onTask);
        else onTask(current);
      }).catch(() => undefined);
    }
  };
}

/** The tasks list: filters, cursor paging, statuses kept live by the account's event stream. */
export function startTasks(root: Root): void {
  const rows = $('task-rows');
  const filters = $<HTMLFormElement>('task-filters');
  const row = (task: Task) => {
    const link = el('a', { href: `${root.base}/tasks/${task.id}` }, task.id);
    const tr = el('tr', { 'data-task': task.id }, el('td', {}, link), el('td', { class: 'status' }, task.status), el('td', {}, task.model),
      el('td', {}, task.prompt.length > 80 ? `${task.prompt.slice(0, 80)}…` : task.prompt), el('td', {}, when(task.created_at, root.lang)));
    return tr;
  };
  const load = pager<Task>((cursor) => {
    // `?limit=` on the page's own URL sets the page size (default 20).
    const query = new URLSearchParams({ limit: new URLSearchParams(window.location.search).get('limit') ?? '20' });
    const data = new FormData(filters);
    for (const name of ['status', 'model']) { const raw = data.get(name); const value = typeof raw === 'string' ? raw : ''; if (value) query.set(name, value); }
    if (cursor) query.set('cursor', cursor);
    return api<Page<Task>>('GET', `/api/v1/tasks?${query.toString()}`);
  }, (tasks, reset) => {
    if (reset) rows.replaceChildren();
    rows.append(...tasks.map(row));
    if (rows.children.length === 0) rows.append(el('tr', {}, el('td', { colspan: '5' }, root.t['console_none'] ?? '')));
  });
  filters.addEventListener('submit', (event) => { event.preventDefault(); void load(true); });
  void load(true);
  const source = new EventSource(`/api/v1/events?types=${TASK_EVENTS.join(',')}`);
  const update = (event: MessageEvent<string>) => {
    sawEventId(event.lastEventId);
    const task = (JSON.parse(event.data) as { data: { task: Task } }).data.task;
    const cell = rows.querySelector(`tr[data-task="${CSS.escape(task.id)}"] .status`);
    if (cell) cell.textContent = task.status;
  };
  for (const type of TASK_EVENTS) source.addEventListener(type, update);
  window.addEventListener('pagehide', () => source.close());
}

interface LedgerEntry { id: string; type: string; amount: number; task_id: string | null; balance_after: number; created_at: string }

/** One task: its facts, params, video, ledger entries, and cancel. */
export function startTask(root: Root): void {
  const id = root.id ?? '';
  const facts = $('task-facts');
  const cancel = $<HTMLButtonElement>('task-cancel');
  const errorBox = $('task-error');
  const fact = (label: string, value: string) => el('div', {}, el('dt', {}, label), el('dd', {}, value));
  const ledger = async () => {
    const page = await api<Page<LedgerEntry>>('GET', '/api/v1/account/ledger?limit=100');
    $('ledger-rows').replaceChildren(...page.data.filter((entry) => entry.task_id === id).map((entry) =>
      el('tr', {}, el('td', {}, when(entry.created_at, root.lang)), el('td', {}, entry.type), el('td', {}, String(entry.amount)), el('td', {}, String(entry.balance_after)))));
  };
  const render = (task: Task) => {
    const { t } = root;
    facts.replaceChildren(
      fact(t['console_status'] ?? '', task.status), fact(t['console_model'] ?? '', task.model), fact(t['console_progress'] ?? '', `${task.progress}%`),
      fact(t['console_col_created'] ?? '', when(task.created_at, root.lang)), fact(t['console_started'] ?? '', when(task.started_at, root.lang)),
      fact(t['console_completed'] ?? '', when(task.completed_at, root.lang)), fact(t['console_price'] ?? '', `${task.reserved_credits} / ${task.final_credits}`),
      fact(t['console_col_prompt'] ?? '', task.prompt),
    );
    facts.setAttribute('data-status', task.status);
    $('task-params').textContent = JSON.stringify(task.params, null, 2);
    cancel.hidden = TERMINAL.has(task.status);
    if (task.error) showError(errorBox, new Error(`${task.error.code}: ${task.error.message}`));
    const media = task.result?.media[0];
    if (media) {
      const video = $<HTMLVideoElement>('task-video');
      if (video.getAttribute('src') !== media.url) video.src = media.url;
      video.hidden = false;
      const download = $<HTMLAnchorElement>('task-download');
      download.href = media.url;
      download.hidden = false;
    }
    if (TERMINAL.has(task.status)) void ledger();
  };
  cancel.addEventListener('click', () => {
    cancel.disabled = true;
    void api<Task>('POST', `/api/v1/tasks/${encodeURIComponent(id)}/cancel`).then(render, (error: unknown) => showError(errorBox, error)).finally(() => { cancel.disabled = false; });
  });
  void api<Task>('GET', `/api/v1/tasks/${encodeURIComponent(id)}`).then((task) => {
    followTask(task, render);
    return ledger();
  }, (error: unknown) => showError(errorBox, error));
}
