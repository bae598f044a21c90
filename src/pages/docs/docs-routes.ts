import type { FastifyInstance, FastifyReply } from 'fastify';
import { MODELS } from '../../catalog/models.js';
import type { FileLimits } from '../../files/media-types.js';
import { SITE_ASSETS, SWAGGER_UI_ASSETS, type Asset } from '../assets.js';
import { escapeHtml, prose } from '../html.js';
import { DICTIONARIES, LANGS, localePath, type Lang } from '../i18n.js';
import { renderPage, type NavLink } from '../layout.js';
import { usePageScope } from '../page-scope.js';
import { GUIDE_PAGES, guidePath, modelPath, type GuidePage } from './guide-pages.js';
import { modelPageHtml, modelPageMarkdown } from './model-page.js';

export interface DocsDeps {
  /** The service's public URL, used in the copyable requests. */
  publicUrl: string;
  /** The Files API's limits as configured, shown on the Files page. */
  fileLimits: FileLimits;
}

const HTML = 'text/html; charset=utf-8';
const MARKDOWN = 'text/markdown; charset=utf-8';

function nav(lang: Lang): NavLink[] {
  const t = DICTIONARIES[lang];
  return [
    ...GUIDE_PAGES.map((page) => ({ path: guidePath(page.slug), label: t[page.titleKey] })),
    ...MODELS.map((model) => ({ path: modelPath(model), label: model.name })),
  ];
}

function guideHtml(page: GuidePage, lang: Lang, deps: DocsDeps): string {
  const t = DICTIONARIES[lang];
  const main = `<h1>${escapeHtml(t[page.titleKey])}</h1>\n<p class="summary">${prose(t[page.summaryKey])}</p>\n${page.body({ lang, t, ...deps })}`;
  return renderPage({
    lang, title: t[page.titleKey], description: t[page.summaryKey], path: guidePath(page.slug), nav: nav(lang), navLabel: t.docs_nav_label, main,
    ...(page.scripts ? { scripts: page.scripts } : {}),
    ...(page.stylesheets ? { stylesheets: page.stylesheets } : {}),
  });
}

function notFoundHtml(lang: Lang): string {
  const t = DICTIONARIES[lang];
  const main = `<h1>${escapeHtml(t.not_found_title)}</h1>\n<p>${escapeHtml(t.not_found_body)}</p>\n<p><a href="${localePath(lang, '/docs')}">${escapeHtml(t.back_to_docs)}</a></p>`;
  return renderPage({ lang, title: t.not_found_title, description: t.not_found_body, path: '/docs', nav: nav(lang), navLabel: t.docs_nav_label, main });
}

/** Every docs document of the site, rendered once: `path → body` (HTML pages and the models' Markdown). */
export function buildDocs(deps: DocsDeps): { pages: ReadonlyMap<string, { type: string; body: string }>; notFound: Readonly<Record<Lang, string>>; llms: string } {
  const { publicUrl } = deps;
  const pages = new Map<string, { type: string; body: string }>();
  for (const lang of LANGS) {
    const t = DICTIONARIES[lang];
    for (const page of GUIDE_PAGES) pages.set(localePath(lang, guidePath(page.slug)), { type: HTML, body: guideHtml(page, lang, deps) });
    for (const model of MODELS) {
      const { title, summary, main } = modelPageHtml(model, lang, publicUrl);
      pages.set(localePath(lang, modelPath(model)), {
        type: HTML, body: renderPage({ lang, title, description: summary, path: modelPath(model), nav: nav(lang), navLabel: t.docs_nav_label, main }),
      });
      pages.set(localePath(lang, `${modelPath(model)}.md`), { type: MARKDOWN, body: modelPageMarkdown(model, lang, publicUrl) });
    }
  }
  const llms = [
    '# Rivya',
    '',
    `> ${DICTIONARIES.en.index_summary} Models: ${MODELS.map((model) => `${model.id} (${model.credits} credits)`).join(', ')}.`,
    '',
    '## Model pages',
    '',
    ...MODELS.map((model) => `- [${model.name}](${publicUrl}${modelPath(model)}.md): ${model.description}`),
    '',
    '## Model pages in Bengali',
    '',
    ...MODELS.map((model) => `- [${model.name} (বাংলা)](${publicUrl}${localePath('bn', modelPath(model))}.md)`),
    '',
    '## API',
    '',
    `- [OpenAPI document](${publicUrl}/api/v1/openapi.json): every route of the public API v1.`,
    `- [Documentation](${publicUrl}/docs): authentication, errors, idempotency, rate limits, credits, files, webhooks, SDK and CLI.`,
    '',
  ].join('\n');
  return { pages, notFound: { en: notFoundHtml('en'), bn: notFoundHtml('bn') }, llms };
}

function sendAsset(reply: FastifyReply, asset: Asset | undefined, notFound: string): FastifyReply {
  if (!asset) return reply.code(404).type(HTML).send(notFound);
  return reply.type(asset.type).header('cache-control', 'public, max-age=300').send(asset.body);
}

/**
 * The public docs site (no key): `/docs…` in English, `/bn/docs…` in Bengali, the model pages as
 * Markdown, `/llms.txt`, and the shared assets under `/assets/`. Every answer, errors included,
 * is a page (never the API's JSON envelope) with the strict security headers.
 */
export function registerDocsRoutes(app: FastifyInstance, deps: DocsDeps): void {
  const docs = buildDocs(deps);
  void app.register(async (scope) => {
    // Errors on these routes (an id no store can hold, the service shutting down, a bug) answer as pages.
    usePageScope(scope, {
      errorPage: (error, lang) => {
        if (error.code === 'not_found') return { status: 404, html: docs.notFound[lang] };
        const t = DICTIONARIES[lang];
        const status = error.status >= 500 ? error.status : 400;
        return {
          status,
          html: renderPage({
            lang, title: String(status), description: error.message, path: '/docs', nav: nav(lang), navLabel: t.docs_nav_label,
            main: `<h1>${status}</h1>\n<p>${escapeHtml(error.message)}</p>\n<p><a href="${localePath(lang, '/docs')}">${escapeHtml(t.back_to_docs)}</a></p>`,
          }),
        };
      },
    });
    const answer = (reply: FastifyReply, path: string, lang: Lang): FastifyReply => {
      const page = docs.pages.get(path);
      if (!page) return reply.code(404).type(HTML).send(docs.notFound[lang]);
      return reply.type(page.type).send(page.body);
    };
    for (const lang of LANGS) {
      const prefix = localePath(lang, '/docs');
      scope.get(prefix, async (_request, reply) => answer(reply, prefix, lang));
      // Every page was rendered up front: a path that is not one of them is unknown.
      scope.get<{ Params: { page: string } }>(`${prefix}/:page`, async (request, reply) => answer(reply, `${prefix}/${request.params.page}`, lang));
      // `sora-2` is the page, `sora-2.md` the same as Markdown.
      scope.get<{ Params: { id: string } }>(`${prefix}/models/:id`, async (request, reply) => answer(reply, `${prefix}/models/${request.params.id}`, lang));
    }
    scope.get('/llms.txt', async (_request, reply) => reply.type('text/plain; charset=utf-8').send(docs.llms));
    scope.get<{ Params: { file: string } }>('/assets/:file', async (request, reply) =>
      sendAsset(reply, SITE_ASSETS.get(request.params.file), docs.notFound.en));
    scope.get<{ Params: { file: string } }>('/assets/swagger-ui/:file', async (request, reply) =>
      sendAsset(reply, SWAGGER_UI_ASSETS.get(request.params.file), docs.notFound.en));
  });
}
