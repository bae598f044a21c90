import type { ConsoleSession } from '../../accounts/session-store.js';
import { MODELS } from '../../catalog/models.js';
import { TASK_STATUSES } from '../../domain.js';
import { codeBlock, escapeHtml, fill, scrollRegion } from '../html.js';
import { DICTIONARIES, localePath, type Lang, type StringKey } from '../i18n.js';
import { renderPage, type NavLink } from '../layout.js';

export type ConsolePageName = 'playground' | 'tasks' | 'task' | 'credits' | 'files' | 'keys' | 'webhooks';

/** The console's pages in its navigation, by language-neutral path under `/console`. */
export const CONSOLE_PAGES: readonly { name: Exclude<ConsolePageName, 'task'>; path: string; titleKey: StringKey }[] = [
  { name: 'playground', path: '', titleKey: 'console_playground' },
  { name: 'tasks', path: '/tasks', titleKey: 'console_tasks' },
  { name: 'credits', path: '/credits', titleKey: 'console_credits' },
  { name: 'files', path: '/files', titleKey: 'console_files' },
  { name: 'keys', path: '/keys', titleKey: 'console_keys' },
  { name: 'webhooks', path: '/webhooks', titleKey: 'console_webhooks' },
];

/** The strings the client script uses: every `console_*` string of the page's language. */
function clientStrings(lang: Lang): Record<string, string> {
  const t = DICTIONARIES[lang];
  return Object.fromEntries(Object.entries(t).filter(([key]) => key.startsWith('console_')));
}

function nav(lang: Lang): NavLink[] {
  const t = DICTIONARIES[lang];
  return [...CONSOLE_PAGES.map((page) => ({ path: `/console${page.path}`, label: t[page.titleKey] })), { path: '/docs', label: t.docs_nav_label }];
}

const attr = (value: string) => escapeHtml(value);

function th(lang: Lang, keys: readonly StringKey[]): string {
  const t = DICTIONARIES[lang];
  return keys.map((key) => `<th scope="col">${escapeHtml(t[key])}</th>`).join('');
}

function table(lang: Lang, id: string, label: string, columns: readonly StringKey[]): string {
  return scrollRegion(label, `<table>
<thead><tr>${th(lang, columns)}</tr></thead>
<tbody id="${id}"></tbody>
</table>`);
}

/** An error shown next to a field: the API's `details[].path` names the field. */
const fieldError = (path: string) => `<p class="field-error" id="error-${attr(path.replace(/\./g, '-'))}" data-error-for="${attr(path)}" hidden></p>`;

function playground(lang: Lang): string {
  const t = DICTIONARIES[lang];
  const first = MODELS[0];
  const models = MODELS.map((model) =>
    `<option value="${attr(model.id)}" data-credits="${model.credits}" data-max-chars="${model.prompt_max_chars}" data-params="${attr(model.params.map((p) => p.key).join(' '))}">${escapeHtml(model.name)} (${escapeHtml(model.id)})</option>`).join('');
  const params = new Map<string, (typeof MODELS)[number]['params'][number]>();
  for (const model of MODELS) for (const param of model.params) if (!params.has(param.key)) params.set(param.key, param);
  const paramFields = [...params.values()].map((param) => {
    const id = `param-${param.key}`;
    const onFirst = first.params.some((p) => p.key === param.key);
    const options = [
      ...(param.default === null ? [`<option value="">—</option>`] : []),
      ...param.options.map((option) => `<option value="${attr(option)}"${option === param.default ? ' selected' : ''}>${escapeHtml(option)}</option>`),
    ].join('');
    return `<div class="field" data-param="${attr(param.key)}"${onFirst ? '' : ' hidden'}>
<label for="${id}">${escapeHtml(param.description)} <code>${escapeHtml(param.key)}</code></label>
<select id="${id}" name="params.${attr(param.key)}" aria-describedby="error-params-${attr(param.key)}"${onFirst ? '' : ' disabled'}>${options}</select>
${fieldError(`params.${param.key}`)}
</div>`;
  }).join('\n');
  const copy = { copyLabel: t.copy, copiedLabel: t.copied };
  return `<form id="playground" class="console-form" novalidate>
<div class="field">
<label for="model">${escapeHtml(t.console_model)}</label>
<select id="model" name="model" aria-describedby="error-model">${models}</select>
${fieldError('model')}
</div>
<div class="field">
<label for="prompt">${escapeHtml(t.console_prompt)}</label>
<textarea id="prompt" name="prompt" rows="5" maxlength="${first.prompt_max_chars}" aria-describedby="prompt-count error-prompt" required></textarea>
<p class="hint" id="prompt-count" aria-live="polite">${escapeHtml(fill(t.console_chars, { count: 0, max: first.prompt_max_chars }))}</p>
${fieldError('prompt')}
</div>
<fieldset><legend>${escapeHtml(t.console_params)}</legend>
${paramFields}
</fieldset>
<div class="field dropzone" id="dropzone">
<label for="reference">${escapeHtml(t.console_reference)}</label>
<input type="file" id="reference" accept="${attr(first.upload_policy.kinds.flatMap((kind) => kind.mime_types).join(','))}" aria-describedby="reference-hint error-params-referenceMediaItems">
<p class="hint" id="reference-hint">${escapeHtml(t.console_reference_hint)}</p>
<div id="reference-preview" hidden><img id="reference-image" alt="${attr(t.console_reference)}"><button type="button" id="reference-remove">${escapeHtml(t.console_reference_remove)}</button></div>
${fieldError('params.referenceMediaItems')}
</div>
<dl class="facts">
<div><dt>${escapeHtml(t.console_price)}</dt><dd id="price">${escapeHtml(fill(t.console_credits_unit, { count: first.credits }))}</dd></div>
<div><dt>${escapeHtml(t.console_available)}</dt><dd id="available">…</dd></div>
</dl>
<p class="form-error" id="form-error" role="alert" hidden></p>
<button type="submit" id="generate" class="primary">${escapeHtml(t.console_generate)}</button>
</form>
<section id="result" aria-live="polite" hidden>
<h2>${escapeHtml(t.console_task)} <a id="result-task"></a></h2>
<p><label for="result-progress">${escapeHtml(t.console_progress)}</label> <progress id="result-progress" max="100" value="0"></progress> <span id="result-percent">0%</span></p>
<p>${escapeHtml(t.console_status)}: <strong id="result-status"></strong></p>
<p class="form-error" id="result-error" hidden></p>
<video id="result-video" controls hidden></video>
<p><a id="result-download" download hidden>${escapeHtml(t.console_download)}</a></p>
</section>
<section id="code-panel">
<h2>${escapeHtml(t.console_code)}</h2>
${codeBlock('', { label: t.snippet_curl, language: 'sh', ...copy }).replace('<code class="language-sh">', '<code class="language-sh" id="code-curl">')}
${codeBlock('', { label: t.snippet_sdk, language: 'ts', ...copy }).replace('<code class="language-ts">', '<code class="language-ts" id="code-sdk">')}
${codeBlock('', { label: t.snippet_cli, language: 'sh', ...copy }).replace('<code class="language-sh">', '<code class="language-sh" id="code-cli">')}
</section>`;
}

function tasks(lang: Lang): string {
  const t = DICTIONARIES[lang];
  const statuses = TASK_STATUSES.map((status) => `<option value="${status}">${status}</option>`).join('');
  const models = MODELS.map((model) => `<option value="${model.id}">${model.id}</option>`).join('');
  return `<form id="task-filters" class="filters">
<div class="field"><label for="filter-status">${escapeHtml(t.console_filter_status)}</label><select id="filter-status" name="status"><option value="">${escapeHtml(t.console_all)}</option>${statuses}</select></div>
<div class="field"><label for="filter-model">${escapeHtml(t.console_filter_model)}</label><select id="filter-model" name="model"><option value="">${escapeHtml(t.console_all)}</option>${models}</select></div>
<button type="submit">${escapeHtml(t.console_apply)}</button>
</form>
${table(lang, 'task-rows', t.console_tasks, ['console_col_id', 'console_col_status', 'console_col_model', 'console_col_prompt', 'console_col_created'])}
<p><button type="button" id="more" hidden>${escapeHtml(t.console_more)}</button></p>`;
}

function task(lang: Lang): string {
  const t = DICTIONARIES[lang];
  return `<dl class="facts" id="task-facts"></dl>
<p class="form-error" id="task-error" role="alert" hidden></p>
<p><button type="button" id="task-cancel" hidden>${escapeHtml(t.console_cancel)}</button></p>
<section><h2>${escapeHtml(t.console_video)}</h2><video id="task-video" controls hidden></video><p><a id="task-download" download hidden>${escapeHtml(t.console_download)}</a></p></section>
<section><h2>${escapeHtml(t.console_params)}</h2><pre tabindex="0" role="region" aria-label="${attr(t.console_params)}"><code id="task-params"></code></pre></section>
<section><h2>${escapeHtml(t.console_ledger)}</h2>
${table(lang, 'ledger-rows', t.console_ledger, ['console_col_created', 'console_col_type', 'console_col_amount', 'console_col_balance_after'])}
</section>`;
}

function credits(lang: Lang): string {
  const t = DICTIONARIES[lang];
  return `<dl class="facts">
<div><dt>${escapeHtml(t.console_balance)}</dt><dd id="credits-balance">…</dd></div>
<div><dt>${escapeHtml(t.console_held)}</dt><dd id="credits-held">…</dd></div>
<div><dt>${escapeHtml(t.console_available)}</dt><dd id="credits-available">…</dd></div>
</dl>
<section><h2>${escapeHtml(t.console_chart_title)}</h2><figure class="chart" id="chart"></figure></section>
<section><h2>${escapeHtml(t.console_ledger)}</h2>
${table(lang, 'ledger-rows', t.console_ledger, ['console_col_created', 'console_col_type', 'console_col_amount', 'console_col_balance_after', 'console_col_task'])}
<p><button type="button" id="more" hidden>${escapeHtml(t.console_more)}</button></p>
</section>`;
}

function files(lang: Lang): string {
  const t = DICTIONARIES[lang];
  return `${table(lang, 'file-rows', t.console_files, ['console_col_preview', 'console_col_name', 'console_col_size', 'console_col_created', 'console_col_expires', 'console_col_actions'])}
<p><button type="button" id="more" hidden>${escapeHtml(t.console_more)}</button></p>`;
}

function keys(lang: Lang): string {
  const t = DICTIONARIES[lang];
  return `<form id="key-create" class="console-form">
<div class="field"><label for="key-name">${escapeHtml(t.console_key_name)}</label><input id="key-name" name="name" maxlength="100" autocomplete="off"></div>
<button type="submit">${escapeHtml(t.console_key_create)}</button>
</form>
<div id="key-created" class="notice" role="status" hidden>
<p>${escapeHtml(t.console_key_created)}</p>
${codeBlock('', { label: t.console_api_key, copyLabel: t.copy, copiedLabel: t.copied }).replace('<code>', '<code id="key-secret">')}
</div>
<p class="form-error" id="form-error" role="alert" hidden></p>
${table(lang, 'key-rows', t.console_keys, ['console_col_prefix', 'console_col_name', 'console_col_created', 'console_col_last_used', 'console_col_actions'])}`;
}

function webhooks(lang: Lang): string {
  const t = DICTIONARIES[lang];
  return `<form id="webhook-create" class="console-form" novalidate>
<div class="field"><label for="webhook-url">${escapeHtml(t.console_webhook_url)}</label><input id="webhook-url" name="url" type="url" placeholder="https://example.com/hooks/rivya" aria-describedby="error-url">${fieldError('url')}</div>
<button type="submit">${escapeHtml(t.console_webhook_add)}</button>
</form>
<div id="webhook-secret-box" class="notice" role="status" hidden>
<p>${escapeHtml(t.console_webhook_secret)}</p>
${codeBlock('', { label: 'whsec', copyLabel: t.copy, copiedLabel: t.copied }).replace('<code>', '<code id="webhook-secret">')}
</div>
<p class="form-error" id="form-error" role="alert" hidden></p>
${table(lang, 'webhook-rows', t.console_webhooks, ['console_col_url', 'console_col_events', 'console_col_created', 'console_col_actions'])}
<section><h2>${escapeHtml(t.console_webhook_deliveries)}</h2>
${table(lang, 'delivery-rows', t.console_webhook_deliveries, ['console_col_created', 'console_col_type', 'console_col_attempt', 'console_col_code', 'console_error'])}
</section>`;
}

const BODIES: Readonly<Record<ConsolePageName, (lang: Lang) => string>> = { playground, tasks, task, credits, files, keys, webhooks };

/** A signed-in console page: the shell, the page's static structure, and what the client script needs. */
export function consolePage(lang: Lang, name: ConsolePageName, session: ConsoleSession, id: string | null): string {
  const t = DICTIONARIES[lang];
  const entry = CONSOLE_PAGES.find((page) => page.name === name);
  const title = entry ? t[entry.titleKey] : t.console_task;
  const path = entry ? `/console${entry.path}` : `/console/tasks/${id ?? ''}`;
  const main = `<div id="console" data-page="${name}" data-lang="${lang}" data-base="${attr(localePath(lang, '/console'))}" data-csrf="${attr(session.csrfToken)}" data-key-id="${attr(session.keyId)}"${id ? ` data-id="${attr(id)}"` : ''} data-strings="${attr(JSON.stringify(clientStrings(lang)))}">
<div class="console-bar">
<p>${escapeHtml(t.console_signed_in_as)} <strong>${escapeHtml(session.account.name)}</strong> (<code>${escapeHtml(session.account.id)}</code>)</p>
<form method="post" action="${attr(localePath(lang, '/console/sign-out'))}"><input type="hidden" name="csrf_token" value="${attr(session.csrfToken)}"><button type="submit" id="sign-out">${escapeHtml(t.console_sign_out)}</button></form>
</div>
<h1>${escapeHtml(title)}${id ? ` <code>${escapeHtml(id)}</code>` : ''}</h1>
${BODIES[name](lang)}
</div>`;
  return renderPage({
    lang, title, description: t.console_title, path, nav: nav(lang), navLabel: t.console_nav_label, main,
    scripts: ['/assets/console.js'], stylesheets: ['/assets/console.css'],
  });
}

/** The sign-in page (a plain form: it works without the script). */
export function signInPage(lang: Lang, options: { error?: string } = {}): string {
  const t = DICTIONARIES[lang];
  const error = options.error ? `<p class="form-error" role="alert" id="sign-in-error">${escapeHtml(options.error)}</p>` : '';
  const main = `<h1>${escapeHtml(t.console_sign_in)}</h1>
<p>${escapeHtml(t.console_sign_in_intro)}</p>
${error}
<form method="post" action="${attr(localePath(lang, '/console/sign-in'))}" class="console-form">
<div class="field"><label for="key">${escapeHtml(t.console_api_key)}</label>
<input id="key" name="key" type="password" autocomplete="off" spellcheck="false" required${options.error ? ' aria-describedby="sign-in-error" aria-invalid="true"' : ''}></div>
<button type="submit" class="primary">${escapeHtml(t.console_sign_in)}</button>
</form>`;
  return renderPage({
    lang, title: t.console_sign_in, description: t.console_sign_in_intro, path: '/console/sign-in', nav: nav(lang), navLabel: t.console_nav_label, main,
    stylesheets: ['/assets/console.css'],
  });
}

/** The console's answer for an address it has no page at. */
export function consoleNotFoundPage(lang: Lang): string {
  const t = DICTIONARIES[lang];
  const main = `<h1>${escapeHtml(t.not_found_title)}</h1>
<p><a href="${attr(localePath(lang, '/console'))}">${escapeHtml(t.console_title)}</a></p>`;
  return renderPage({ lang, title: t.not_found_title, description: t.not_found_title, path: '/console', nav: nav(lang), navLabel: t.console_nav_label, main, stylesheets: ['/assets/console.css'] });
}
