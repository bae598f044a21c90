import type { ModelRecord } from '../../catalog/models.js';
import type { ErrorCode } from '../../errors.js';
import { codeBlock, escapeHtml, fill, htmlTable, markdownTable, prose } from '../html.js';
import { DICTIONARIES, localePath, type Lang } from '../i18n.js';

/** The errors a model page names as the ones a caller meets (the seed page's list). */
export const COMMON_ERRORS = ['validation_failed', 'insufficient_credits', 'idempotency_conflict', 'rate_limited', 'not_found'] as const satisfies readonly ErrorCode[];

/** The timestamp of the seed's create response. */
const EXAMPLE_TIME = '2026-05-11T00:00:00.000Z';
const NONE = '-';

/** `10000000` → `10 MB`: the upload limits are whole decimal megabytes. */
export function formatBytes(bytes: number): string {
  return bytes % 1_000_000 === 0 ? `${bytes / 1_000_000} MB` : `${bytes} bytes`;
}

/** The create response of the seed page: the Task a create of the minimal request answers, as a subset. */
export function exampleCreateResponse(model: ModelRecord) {
  return {
    id: `task_${model.id.replace(/-/g, '_')}_example`,
    status: 'queued',
    model: model.id,
    reserved_credits: model.credits,
    final_credits: 0,
    created_at: EXAMPLE_TIME,
    updated_at: EXAMPLE_TIME,
    result: null,
    error: null,
  };
}

/** The CLI flag of each param value (`rivya generate`); a param missing here fails the page's build. */
const CLI_FLAGS: Readonly<Record<string, (value: string) => string | null>> = {
  size: (value) => `--size ${value}`,
  n_frames: (value) => `--frames ${value}`,
  aspect_ratio: (value) => `--${value}`,
  remove_watermark: (value) => (value === 'true' ? '--no-watermark' : null),
  upload_method: (value) => `--target ${value}`,
};

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The copyable requests of a model: its minimal example as curl, SDK and CLI calls. */
export function modelSnippets(model: ModelRecord, publicUrl: string): { curl: string; sdk: string; cli: string } {
  const minimal = model.examples.minimal as { model: string; prompt: string; params: Record<string, string> };
  const curl = [
    `curl -s ${publicUrl}/api/v1/tasks \\`,
    '  -H "Authorization: Bearer $RIVYA_API_KEY" \\',
    "  -H 'Content-Type: application/json' \\",
    `  -H "Idempotency-Key: $(node -e 'console.log(crypto.randomUUID())')" \\`,
    `  -d ${shellQuote(JSON.stringify(minimal))}`,
  ].join('\n');
  const body = JSON.stringify(minimal, null, 2).replace(/\n/g, '\n  ');
  const sdk = [
    "import { Rivya } from '@rivya/sdk';",
    '',
    'const rivya = new Rivya(); // RIVYA_API_KEY, RIVYA_BASE_URL',
    `const task = await rivya.tasks.run(\n  ${body},\n  { onProgress: (t) => console.log(t.status, t.progress) },\n);`,
    'console.log(task.result?.media[0]?.url);',
  ].join('\n');
  const flags = Object.entries(minimal.params).flatMap(([key, value]) => {
    const flag = CLI_FLAGS[key];
    if (!flag) throw new Error(`No CLI flag for ${model.id}'s param ${key}: add it to CLI_FLAGS.`);
    const text = flag(value);
    return text ? [text] : [];
  });
  const cli = `rivya generate ${shellQuote(minimal.prompt)} --model ${model.id} ${flags.join(' ')} --out ${model.id}.mp4`;
  return { curl, sdk, cli };
}

/** Everything on a model page, in the seed page's order, in one language: rendered as HTML and as Markdown. */
export function modelPageContent(model: ModelRecord, lang: Lang, publicUrl: string) {
  const t = DICTIONARIES[lang];
  const policy = model.upload_policy;
  return {
    title: fill(t.model_title, { name: model.name }),
    summary: fill(t.model_summary, { name: model.name, id: model.id }),
    facts: [
      [t.model_fact_id, model.id],
      [t.model_fact_inputs, model.inputs.join(', ')],
      [t.model_fact_files, t[`files_${model.files}`]],
      [t.model_fact_credits, String(model.credits)],
      [t.model_fact_category, t[`category_${model.category}`]],
      [t.model_fact_pricing, model.pricing.toUpperCase()],
      [t.model_fact_prompt_limit, fill(t.prompt_limit_value, { n: model.prompt_max_chars })],
    ] as const,
    contract: {
      heading: t.model_request_contract,
      intro: t.model_request_contract_intro,
      columns: [t.col_key, t.col_type, t.col_required, t.col_default, t.col_description],
      rows: [
        ['model', 'string', 'Yes', model.id, fill(t.contract_model, { id: model.id })],
        ['prompt', 'string', 'Yes', NONE, fill(t.contract_prompt, { n: model.prompt_max_chars })],
        ['params', 'object', 'No', NONE, t.contract_params],
        ['client_request_id', 'string', 'No', NONE, t.contract_client_request_id],
      ],
    },
    parameters: {
      heading: t.model_parameters,
      columns: [t.col_key, t.col_type, t.col_required, t.col_default, t.col_range, t.col_options, t.col_description],
      rows: model.params.map((param) => [
        param.key, param.type, param.required ? 'Yes' : 'No', param.default ?? NONE, NONE, param.options.join(', '), param.description,
      ]),
    },
    upload: {
      heading: t.model_upload_policy,
      intro: t.upload_policy_intro,
      description: fill(t.upload_policy_image, { n: policy.max_files }),
      facts: [
        [t.upload_policy_max_files, String(policy.max_files)],
        [t.upload_policy_kinds, policy.kinds.map((kind) => kind.kind).join(', ')],
      ] as const,
      durationNote: t.upload_policy_duration_note,
      columns: ['kind', t.files_col_max, t.files_col_types],
      rows: policy.kinds.map((kind) => [kind.kind, formatBytes(kind.max_bytes), kind.mime_types.join(', ')]),
    },
    minimal: { heading: t.model_minimal_request, json: JSON.stringify(model.examples.minimal, null, 2) },
    reference: { heading: t.model_reference_request, json: JSON.stringify(model.examples.reference, null, 2) },
    createResponse: { heading: t.model_create_response, intro: t.create_response_intro, json: JSON.stringify(exampleCreateResponse(model), null, 2) },
    errors: { heading: t.model_common_errors, codes: COMMON_ERRORS, note: t.common_errors_note },
    snippets: { heading: t.model_snippets, ...modelSnippets(model, publicUrl) },
  };
}

type Content = ReturnType<typeof modelPageContent>;

function section(id: string, heading: string, body: string): string {
  return `<section aria-labelledby="${id}">\n<h2 id="${id}">${escapeHtml(heading)}</h2>\n${body}\n</section>`;
}

function dl(label: string, pairs: readonly (readonly [string, string])[], className: string): string {
  return `<dl class="${className}" aria-label="${escapeHtml(label)}">\n${pairs.map(([term, value]) => `<div><dt>${escapeHtml(term)}</dt><dd><code>${escapeHtml(value)}</code></dd></div>`).join('\n')}\n</dl>`;
}

/** The model page's main content, HTML. */
export function modelPageHtml(model: ModelRecord, lang: Lang, publicUrl: string): { title: string; summary: string; main: string } {
  const t = DICTIONARIES[lang];
  const c: Content = modelPageContent(model, lang, publicUrl);
  const copy = { copyLabel: t.copy, copiedLabel: t.copied };
  const json = (label: string, code: string) => codeBlock(code, { label, language: 'json', ...copy });
  const errors = c.errors.codes.map((code) => `<li><a href="${localePath(lang, '/docs/errors')}#error-${code}"><code>${code}</code></a></li>`).join('');
  const main = [
    `<article class="model-page" data-model="${escapeHtml(model.id)}">`,
    `<h1>${escapeHtml(c.title)}</h1>`,
    `<p class="summary">${escapeHtml(c.summary)}</p>`,
    dl(t.model_facts_label, c.facts, 'facts'),
    section('request-contract', c.contract.heading, `<p>${prose(c.contract.intro)}</p>\n${htmlTable(c.contract.heading, c.contract.columns, c.contract.rows, { code: [0, 1, 2, 3] })}`),
    section('model-parameters', c.parameters.heading, htmlTable(c.parameters.heading, c.parameters.columns, c.parameters.rows, { code: [0, 1, 2, 3, 4, 5] })),
    section('upload-policy', c.upload.heading, [
      `<p>${prose(c.upload.intro)}</p>`,
      `<p class="upload-description">${prose(c.upload.description)}</p>`,
      dl(c.upload.heading, c.upload.facts, 'facts upload-facts'),
      `<p>${prose(c.upload.durationNote)}</p>`,
      htmlTable(c.upload.heading, c.upload.columns, c.upload.rows, { code: [0, 1, 2] }),
    ].join('\n')),
    section('minimal-request', c.minimal.heading, json('POST /api/v1/tasks', c.minimal.json)),
    section('reference-request', c.reference.heading, json('POST /api/v1/tasks', c.reference.json)),
    section('create-response', c.createResponse.heading, `<p>${prose(c.createResponse.intro)}</p>\n${json('201 Created', c.createResponse.json)}`),
    section('common-errors', c.errors.heading, `<ul class="error-codes">${errors}</ul>\n<p>${prose(c.errors.note)}</p>`),
    section('snippets', c.snippets.heading, [
      codeBlock(c.snippets.curl, { label: t.snippet_curl, language: 'sh', ...copy }),
      codeBlock(c.snippets.sdk, { label: t.snippet_sdk, language: 'ts', ...copy }),
      codeBlock(c.snippets.cli, { label: t.snippet_cli, language: 'sh', ...copy }),
    ].join('\n')),
    `<p><a href="${localePath(lang, `/docs/models/${model.id}.md`)}" type="text/markdown">${escapeHtml(t.model_markdown_link)}</a></p>`,
    '</article>',
  ].join('\n');
  return { title: c.title, summary: c.summary, main };
}

/** The same page as Markdown, for coding agents and `llms.txt`. */
export function modelPageMarkdown(model: ModelRecord, lang: Lang, publicUrl: string): string {
  const c = modelPageContent(model, lang, publicUrl);
  const fence = (language: string, code: string) => `\`\`\`${language}\n${code}\n\`\`\``;
  return [
    `# ${c.title}`,
    c.summary,
    c.facts.map(([term, value]) => `- ${term}: \`${value}\``).join('\n'),
    `## ${c.contract.heading}`, c.contract.intro, markdownTable(c.contract.columns, c.contract.rows),
    `## ${c.parameters.heading}`, markdownTable(c.parameters.columns, c.parameters.rows),
    `## ${c.upload.heading}`, c.upload.intro, c.upload.description,
    c.upload.facts.map(([term, value]) => `- ${term}: \`${value}\``).join('\n'),
    c.upload.durationNote, markdownTable(c.upload.columns, c.upload.rows),
    `## ${c.minimal.heading}`, fence('json', c.minimal.json),
    `## ${c.reference.heading}`, fence('json', c.reference.json),
    `## ${c.createResponse.heading}`, c.createResponse.intro, fence('json', c.createResponse.json),
    `## ${c.errors.heading}`, c.errors.codes.join(', '), c.errors.note,
    `## ${c.snippets.heading}`, fence('sh', c.snippets.curl), fence('ts', c.snippets.sdk), fence('sh', c.snippets.cli),
  ].join('\n\n') + '\n';
}
