import { MODELS, type ModelRecord } from '../../catalog/models.js';
import { ERROR_CODES, type ErrorCode } from '../../errors.js';
import { FILE_KINDS, type FileKind, type FileLimits } from '../../files/media-types.js';
import { codeBlock, escapeHtml, htmlTable, prose, scrollRegion } from '../html.js';
import { localePath, type Dictionary, type Lang, type StringKey } from '../i18n.js';
import { formatBytes } from './model-page.js';

/** A docs page besides the model pages: its slug under /docs, its title and summary, and its body. */
export interface GuidePage {
  /** `''` for the index, else the slug: `/docs/<slug>`. */
  slug: string;
  titleKey: StringKey;
  summaryKey: StringKey;
  body(context: GuideContext): string;
  scripts?: readonly string[];
  stylesheets?: readonly string[];
}

export interface GuideContext {
  lang: Lang;
  t: Dictionary;
  publicUrl: string;
  fileLimits: FileLimits;
}

function paragraphs(t: Dictionary, keys: readonly StringKey[]): string {
  return keys.map((key) => `<p>${prose(t[key])}</p>`).join('\n');
}

function code(context: GuideContext, label: string, text: string, language: string): string {
  return codeBlock(text, { label, language, copyLabel: context.t.copy, copiedLabel: context.t.copied });
}

export function guidePath(slug: string): string {
  return slug === '' ? '/docs' : `/docs/${slug}`;
}

export function modelPath(model: ModelRecord): string {
  return `/docs/models/${model.id}`;
}

function modelsTable({ lang, t }: GuideContext): string {
  const head = [t.models_col_model, t.models_col_id, t.models_col_credits, t.models_col_params].map((column) => `<th scope="col">${escapeHtml(column)}</th>`).join('');
  const rows = MODELS.map((model) => `<tr><td><a href="${localePath(lang, modelPath(model))}">${escapeHtml(model.name)}</a></td>`
    + `<td><code>${model.id}</code></td><td>${model.credits}</td>`
    + `<td>${model.params.map((param) => `<code>${param.key}</code>`).join(', ')}</td></tr>`).join('\n');
  return scrollRegion(t.page_models, `<table>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${rows}\n</tbody>\n</table>`);
}

/** The errors table, generated from the error model itself (`ERROR_CODES`): a new code cannot be left out. */
function errorsTable({ t }: GuideContext): string {
  const head = [t.errors_col_code, t.errors_col_status, t.errors_col_when, t.errors_col_action, t.errors_col_retry]
    .map((column) => `<th scope="col">${escapeHtml(column)}</th>`).join('');
  const rows = (Object.keys(ERROR_CODES) as ErrorCode[]).map((code) => {
    const entry = ERROR_CODES[code];
    return `<tr id="error-${code}"><td><code>${code}</code></td><td>${entry.status}</td>`
      + `<td class="text">${prose(t[`error_${code}_when`])}</td><td class="text">${prose(t[`error_${code}_action`])}</td>`
      + `<td>${escapeHtml(entry.retryable ? t.retry_yes : t.retry_no)}</td></tr>`;
  }).join('\n');
  return scrollRegion(t.page_errors, `<table>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${rows}\n</tbody>\n</table>`);
}

function walkthrough(publicUrl: string): string {
  const example = MODELS[0].examples.minimal;
  return [
    'npx rivya serve    # in another terminal: the service, with a dev account of 1000 credits',
    'KEY=$(cat .rivya/dev-api-key)',
    `API=${publicUrl}/api/v1`,
    '',
    `curl -s $API/models/${MODELS[0].id}`,
    `curl -s $API/tasks -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \\`,
    `  -H 'Idempotency-Key: my-first-task' -d '${JSON.stringify(example)}'`,
    'curl -s "$API/tasks/task_…?wait=60" -H "Authorization: Bearer $KEY"   # the id from the answer above',
    'curl -s -o video.mp4 "<result.media[0].url from the answer above>"',
    'curl -s $API/account/ledger -H "Authorization: Bearer $KEY"',
  ].join('\n');
}

const SDK_EXAMPLE = `import { Rivya, ValidationError } from '@rivya/sdk';

const rivya = new Rivya(); // RIVYA_API_KEY, RIVYA_BASE_URL
const file = await rivya.files.upload('ref.png');
const task = await rivya.tasks.run(
  { model: 'sora-2-pro', prompt: 'A paper boat',
    params: { size: 'high', referenceMediaItems: [{ file_id: file.id }] } },
  { onProgress: (t) => console.log(t.status, t.progress) },
);
console.log(task.result?.media[0]?.url);

for await (const event of rivya.events.stream({ types: ['task.succeeded', 'task.failed'] })) {
  console.log(event.type, event.data.task.id);
}`;

const CLI_EXAMPLE = `rivya models
rivya generate "A paper boat on a rainy street" --model sora-2-pro --size high --frames 15 \\
  --portrait --image ref.png --out boat.mp4
rivya tasks list --status running
rivya tasks get task_... --wait --out boat.mp4
rivya files upload ref.png
rivya account --ledger
rivya webhooks listen --forward-to http://localhost:3000/hook`;

/** The guides, in the order of the navigation; the index first. */
export const GUIDE_PAGES: readonly GuidePage[] = [
  {
    slug: '', titleKey: 'page_index', summaryKey: 'index_summary',
    body: (context) => {
      const { lang, t } = context;
      const topics = GUIDE_PAGES.filter((page) => page.slug !== '')
        .map((page) => `<li><a href="${localePath(lang, guidePath(page.slug))}">${escapeHtml(t[page.titleKey])}</a> — ${prose(t[page.summaryKey])}</li>`).join('\n');
      return [
        paragraphs(t, ['index_p1']),
        `<section aria-labelledby="models"><h2 id="models">${escapeHtml(t.page_models)}</h2>\n<p>${prose(t.index_models_intro)}</p>\n${modelsTable(context)}</section>`,
        `<section aria-labelledby="guides"><h2 id="guides">${escapeHtml(t.index_topics)}</h2>\n<ul class="topics">\n${topics}\n</ul></section>`,
      ].join('\n');
    },
  },
  {
    slug: 'getting-started', titleKey: 'page_getting_started', summaryKey: 'getting_started_summary',
    body: (context) => [
      paragraphs(context.t, ['getting_started_p1', 'getting_started_p2']),
      code(context, 'sh', walkthrough(context.publicUrl), 'sh'),
      paragraphs(context.t, ['getting_started_p3']),
      `<ul>${MODELS.map((model) => `<li><a href="${localePath(context.lang, modelPath(model))}">${escapeHtml(model.name)}</a></li>`).join('')}</ul>`,
      paragraphs(context.t, ['getting_started_p4']),
    ].join('\n'),
  },
  {
    slug: 'authentication', titleKey: 'page_authentication', summaryKey: 'authentication_summary',
    body: ({ t }) => paragraphs(t, ['authentication_p1', 'authentication_p2', 'authentication_p3', 'authentication_p4']),
  },
  {
    slug: 'errors', titleKey: 'page_errors', summaryKey: 'errors_summary',
    body: (context) => `${paragraphs(context.t, ['errors_p1'])}\n${errorsTable(context)}`,
  },
  {
    slug: 'idempotency', titleKey: 'page_idempotency', summaryKey: 'idempotency_summary',
    body: ({ t }) => paragraphs(t, ['idempotency_p1', 'idempotency_p2', 'idempotency_p3']),
  },
  {
    slug: 'rate-limits', titleKey: 'page_rate_limits', summaryKey: 'rate_limits_summary',
    body: ({ t }) => paragraphs(t, ['rate_limits_p1', 'rate_limits_p2']),
  },
  {
    slug: 'credits', titleKey: 'page_credits', summaryKey: 'credits_summary',
    body: ({ t }) => paragraphs(t, ['credits_p1', 'credits_p2']),
  },
  {
    slug: 'files', titleKey: 'page_files', summaryKey: 'files_summary',
    // The kinds the Files API takes, with this service's configured limits (a model's upload policy may take fewer).
    body: ({ t, fileLimits }) => `${paragraphs(t, ['files_p1', 'files_p2', 'files_p3'])}\n${htmlTable(t.page_files, [t.files_col_kind, t.files_col_max, t.files_col_types],
      (Object.keys(FILE_KINDS) as FileKind[]).map((kind) => [kind, formatBytes(fileLimits[kind]), FILE_KINDS[kind].join(', ')]), { code: [0, 2] })}`,
  },
  {
    slug: 'webhooks', titleKey: 'page_webhooks', summaryKey: 'webhooks_summary',
    body: ({ t }) => paragraphs(t, ['webhooks_p1', 'webhooks_p2', 'webhooks_p3']),
  },
  {
    slug: 'sdk', titleKey: 'page_sdk', summaryKey: 'sdk_summary',
    body: (context) => `${paragraphs(context.t, ['sdk_p1'])}\n${code(context, 'TypeScript', SDK_EXAMPLE, 'ts')}`,
  },
  {
    slug: 'cli', titleKey: 'page_cli', summaryKey: 'cli_summary',
    body: (context) => `${paragraphs(context.t, ['cli_p1'])}\n${code(context, 'sh', CLI_EXAMPLE, 'sh')}`,
  },
  {
    slug: 'api', titleKey: 'page_api', summaryKey: 'api_summary',
    body: ({ t }) => `<noscript><p>${escapeHtml(t.api_noscript)} <a href="/api/v1/openapi.json">/api/v1/openapi.json</a></p></noscript>\n`
      + '<div id="api-reference" class="api-reference" data-spec="/api/v1/openapi.json"></div>',
    scripts: ['/assets/swagger-ui/swagger-ui-bundle.js', '/assets/api-reference.js'],
    stylesheets: ['/assets/swagger-ui/swagger-ui.css'],
  },
];

