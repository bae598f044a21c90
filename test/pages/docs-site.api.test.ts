import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { parse, type HTMLElement } from 'node-html-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODELS, type ModelRecord } from '../../src/catalog/models.js';
import { ERROR_CODES } from '../../src/errors.js';
import { FILE_KINDS } from '../../src/files/media-types.js';
import { DICTIONARIES, LANGS, SAME_IN_EVERY_LANGUAGE, type Lang } from '../../src/pages/i18n.js';
import { BACKENDS } from '../helpers/backends.js';
import { startTestService, type TestService } from '../helpers/test-service.js';

// The two original model pages the docs' model pages must hold, as they were given.
const SEEDS = new URL('../fixtures/seeds/', import.meta.url);
const PUBLIC_URL = 'http://localhost:8080';

/** A page's DOM (`pre` parsed as elements: the parser keeps its content as raw text by default). */
function parseHtml(html: string): HTMLElement {
  return parse(html, { blockTextElements: { script: true, noscript: true, style: true } });
}

/** The text of an element, entities decoded, whitespace collapsed. */
function text(element: HTMLElement | null | undefined): string {
  return (element?.text ?? '').replace(/\s+/g, ' ').trim();
}

/** A table's body rows as text cells. */
function rows(table: HTMLElement | null): string[][] {
  expect(table, 'the table').not.toBeNull();
  return table!.querySelectorAll('tbody tr').map((row) => row.querySelectorAll('td').map((cell) => text(cell)));
}

function headers(table: HTMLElement | null): string[] {
  return table!.querySelectorAll('thead th').map((cell) => text(cell));
}

function langOfPath(path: string): Lang {
  return path.startsWith('/bn/') ? 'bn' : 'en';
}

/** The same path in the other language. */
function counterpart(path: string): string {
  return path.startsWith('/bn/') ? path.slice(3) : `/bn${path}`;
}

describe('the docs site', () => {
  let service: TestService;
  let app: FastifyInstance;
  /** Every page crawled from /docs and /bn/docs: path → parsed HTML. */
  const pages = new Map<string, HTMLElement>();
  /** Every same-origin URL linked from a page, without its fragment, with the answer it got. */
  const linked = new Map<string, number>();
  const fragments: { from: string; path: string; id: string }[] = [];

  beforeAll(async () => {
    service = await startTestService(BACKENDS[0]!, { worker: false, captureLogs: 'info', env: { RIVYA_MAX_VIDEO_BYTES: '50000000' } });
    app = service.runtime.app as FastifyInstance;
    const queue = ['/docs', '/bn/docs'];
    while (queue.length > 0) {
      const path = queue.shift()!;
      if (linked.has(path)) continue;
      const response = await app.inject({ url: path });
      linked.set(path, response.statusCode);
      if (!String(response.headers['content-type']).startsWith('text/html') || response.statusCode !== 200) continue;
      const root = parseHtml(response.body);
      pages.set(path, root);
      for (const element of root.querySelectorAll('[href], [src]')) {
        const target = element.getAttribute('href') ?? element.getAttribute('src') ?? '';
        const url = new URL(target, `${PUBLIC_URL}${path}`);
        if (url.origin !== PUBLIC_URL) continue;
        if (url.hash) fragments.push({ from: path, path: url.pathname, id: decodeURIComponent(url.hash.slice(1)) });
        if (!linked.has(url.pathname)) queue.push(url.pathname + url.search);
      }
    }
  }, 60_000);
  afterAll(async () => {
    await service?.close();
  });

  it('links no broken internal URL, from /docs and /bn/docs, fragments included', () => {
    expect(pages.size).toBeGreaterThanOrEqual(2 * (12 + MODELS.length));
    const broken = [...linked].filter(([, status]) => status !== 200);
    expect(broken).toEqual([]);
    for (const { from, path, id } of fragments) {
      const target = path === from ? pages.get(from) : pages.get(path);
      expect(target?.getElementById(id), `${from} → ${path}#${id}`).not.toBeNull();
    }
  });

  it('makes every code block and wide table a labelled region a keyboard can reach and scroll (360 px screens)', () => {
    for (const [path, root] of pages) {
      for (const region of [...root.querySelectorAll('pre'), ...root.querySelectorAll('.table-scroll')]) {
        expect(region.getAttribute('tabindex'), `${path}: ${region.tagName} tabindex`).toBe('0');
        expect(region.getAttribute('role'), `${path}: ${region.tagName} role`).toBe('region');
        expect(region.getAttribute('aria-label') ?? '', `${path}: ${region.tagName} label`).not.toBe('');
      }
    }
  });

  it('has every page in both languages, with lang, hreflang alternates and a working language switch', async () => {
    for (const [path, root] of pages) {
      const lang = langOfPath(path);
      expect(root.querySelector('html')?.getAttribute('lang'), path).toBe(lang);
      expect(pages.has(counterpart(path)), `${path} in the other language`).toBe(true);
      const alternates = Object.fromEntries(root.querySelectorAll('link[rel="alternate"][hreflang]').map((link) => [link.getAttribute('hreflang'), link.getAttribute('href')]));
      expect(alternates, path).toEqual({ 'x-default': lang === 'en' ? path : counterpart(path), en: lang === 'en' ? path : counterpart(path), bn: lang === 'bn' ? path : counterpart(path) });
      const switchLink = root.querySelector('nav.lang-switch a[hreflang]');
      expect(switchLink?.getAttribute('href'), `${path}: language switch`).toBe(counterpart(path));
      const other = parseHtml((await app.inject({ url: counterpart(path) })).body);
      expect(other.querySelector('html')?.getAttribute('lang')).toBe(lang === 'en' ? 'bn' : 'en');
      // Landmarks: one main, labelled navigation, a skip link to main.
      expect(root.querySelectorAll('main#main')).toHaveLength(1);
      for (const nav of root.querySelectorAll('nav')) expect(nav.getAttribute('aria-label'), `${path}: nav label`).toBeTruthy();
      expect(root.querySelector('a.skip-link')?.getAttribute('href')).toBe('#main');
      // Nothing inline: no script or style element with content, no style or on* attribute.
      expect(root.querySelectorAll('script').filter((script) => !script.getAttribute('src') || text(script) !== ''), `${path}: inline script`).toEqual([]);
      expect(root.querySelectorAll('style, [style]'), `${path}: inline style`).toEqual([]);
      expect(root.querySelectorAll('*').filter((element) => Object.keys(element.attributes).some((name) => name.startsWith('on'))), `${path}: handler attribute`).toEqual([]);
    }
  });

  it('serves every page, its assets, its errors and HEAD under the strict security headers', async () => {
    const notFound = ['/docs/models/no-such-model', '/bn/docs/models/no-such-model', '/docs/no-such-page', '/docs/models/no-such-model.md', '/assets/no-such-file.js'];
    for (const url of [...linked.keys(), ...notFound].filter((url) => !url.startsWith('/api/'))) {
      for (const method of ['GET', 'HEAD'] as const) {
        const response = await app.inject({ method, url });
        expect(response.headers['content-security-policy'], `${method} ${url}`).toBe(
          "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        );
        expect(response.headers['x-content-type-options']).toBe('nosniff');
        expect(response.headers['referrer-policy']).toBe('strict-origin-when-cross-origin');
        expect(response.headers['x-request-id']).toMatch(/^req_/);
        if (method === 'HEAD') expect(response.body).toBe('');
      }
    }
  });

  it('answers an unknown model or page with a 404 page in its language, not the API\'s JSON envelope', async () => {
    for (const [url, lang] of [['/docs/models/sora-3', 'en'], ['/bn/docs/models/sora-3', 'bn'], ['/bn/docs/nothing', 'bn'], ['/docs/models/sora-3.md', 'en']] as const) {
      const response = await app.inject({ url });
      expect(response.statusCode, url).toBe(404);
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
      const root = parseHtml(response.body);
      expect(root.querySelector('html')?.getAttribute('lang')).toBe(lang);
      expect(text(root.querySelector('h1'))).toBe(DICTIONARIES[lang].not_found_title);
    }
  });

  it('needs no API key, and logs page requests like any other', async () => {
    const response = await app.inject({ url: '/docs/models/sora-2', headers: { authorization: 'Bearer not-a-key' } });
    expect(response.statusCode).toBe(200);
    const lines = service.logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line['msg'] === 'request');
    expect(lines.some((line) => line['route'] === '/docs/models/:id' && line['status'] === 200 && line['method'] === 'GET')).toBe(true);
    expect(lines.some((line) => line['route'] === '/docs/models/:id' && line['status'] === 404)).toBe(true);
  });

  it('lists every error code of the error model with its status, in both languages', () => {
    for (const lang of LANGS) {
      const root = pages.get(lang === 'en' ? '/docs/errors' : '/bn/docs/errors')!;
      const table = rows(root.querySelector('main table'));
      expect(table.map((row) => [row[0], Number(row[1])])).toEqual(Object.entries(ERROR_CODES).map(([code, entry]) => [code, entry.status]));
      for (const row of table) expect(row.slice(2, 4).every((cell) => cell.length > 0)).toBe(true);
    }
  });

  it('shows the Files API\'s kinds with the limits this service is configured with', () => {
    for (const path of ['/docs/files', '/bn/docs/files']) {
      expect(rows(pages.get(path)!.querySelector('main table'))).toEqual([
        ['image', '10 MB', FILE_KINDS.image.join(', ')], ['video', '50 MB', FILE_KINDS.video.join(', ')], ['audio', '20 MB', FILE_KINDS.audio.join(', ')],
      ]);
    }
  });

  it('lists the models and their prices on the index', () => {
    for (const path of ['/docs', '/bn/docs']) {
      const table = rows(pages.get(path)!.querySelector('main table'));
      expect(table.map((row) => [row[1], Number(row[2])])).toEqual(MODELS.map((model) => [model.id, model.credits]));
    }
  });

  it('renders the API reference from the OpenAPI document with the locally served swagger-ui, no inline script', async () => {
    for (const path of ['/docs/api', '/bn/docs/api']) {
      const root = pages.get(path)!;
      expect(root.getElementById('api-reference')?.getAttribute('data-spec')).toBe('/api/v1/openapi.json');
      const scripts = root.querySelectorAll('script').map((script) => script.getAttribute('src'));
      expect(scripts).toEqual(['/assets/site.js', '/assets/swagger-ui/swagger-ui-bundle.js', '/assets/api-reference.js']);
    }
    const bundle = await app.inject({ url: '/assets/swagger-ui/swagger-ui-bundle.js' });
    expect(bundle.statusCode).toBe(200);
    expect(bundle.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(bundle.body).toContain('SwaggerUIBundle');
    expect((await app.inject({ url: '/api/v1/openapi.json' })).statusCode).toBe(200);
  });

  /**
   * Each field of a model record and where its page shows it: a field without an entry fails the
   * test (the record grew a field the page does not show). `notes` of params are ours, not the seed
   * page's (its table has no column for them), and are checked to be absent from no page: they are in OpenAPI.
   */
  const FIELD_CHECKS: Record<keyof ModelRecord, (page: HTMLElement, model: ModelRecord, lang: Lang) => void> = {
    id: (page, model) => expect(fact(page, 0)).toBe(model.id),
    name: (page, model, lang) => expect(text(page.querySelector('h1'))).toBe(DICTIONARIES[lang].model_title.replace('{name}', model.name)),
    description: (page, model, lang) => {
      const summary = text(page.querySelector('.summary'));
      if (lang === 'en') expect(summary).toBe(model.description);
      else expect(summary).toContain(`model id ${model.id}`);
    },
    inputs: (page, model) => expect(fact(page, 1)).toBe(model.inputs.join(', ')),
    files: (page, model, lang) => expect(fact(page, 2)).toBe(DICTIONARIES[lang][`files_${model.files}`]),
    credits: (page, model) => expect(fact(page, 3)).toBe(String(model.credits)),
    category: (page, model, lang) => expect(fact(page, 4)).toBe(DICTIONARIES[lang][`category_${model.category}`]),
    pricing: (page, model) => expect(fact(page, 5)).toBe(model.pricing.toUpperCase()),
    prompt_max_chars: (page, model) => {
      expect(fact(page, 6)).toBe(`${model.prompt_max_chars} characters`);
      expect(rows(page.querySelector('#request-contract + * table, section[aria-labelledby="request-contract"] table'))[1]![4]).toContain(String(model.prompt_max_chars));
    },
    params: (page, model) => {
      const table = page.querySelector('section[aria-labelledby="model-parameters"] table');
      expect(rows(table)).toEqual(model.params.map((param) => [
        param.key, param.type, param.required ? 'Yes' : 'No', param.default ?? '-', '-', param.options.join(', '), param.description,
      ]));
    },
    upload_policy: (page, model, lang) => {
      const section = page.querySelector('section[aria-labelledby="upload-policy"]')!;
      const policy = model.upload_policy;
      const description = text(section.querySelector('.upload-description'));
      if (lang === 'en') expect(description).toBe(policy.description);
      else expect(description).toContain(`${policy.max_files}টি`);
      expect(section.querySelectorAll('dl.upload-facts dd').map((dd) => text(dd))).toEqual([String(policy.max_files), policy.kinds.map((kind) => kind.kind).join(', ')]);
      expect(rows(section.querySelector('table'))).toEqual(policy.kinds.map((kind) => [kind.kind, `${kind.max_bytes / 1_000_000} MB`, kind.mime_types.join(', ')]));
    },
    examples: (page, model) => {
      const json = (id: string) => JSON.parse(text(page.querySelector(`section[aria-labelledby="${id}"] pre code`)));
      expect(json('minimal-request')).toEqual(model.examples.minimal);
      expect(json('reference-request')).toEqual(model.examples.reference);
      expect(json('create-response')).toMatchObject({ status: 'queued', model: model.id, reserved_credits: model.credits, final_credits: 0, result: null, error: null });
    },
  };

  function fact(page: HTMLElement, index: number): string {
    return text(page.querySelectorAll('dl.facts:not(.upload-facts) dd')[index]);
  }

  it('shows every field of each model\'s catalog record on its page, cell by cell, in both languages', () => {
    for (const model of MODELS) {
      expect(Object.keys(model).filter((field) => !(field in FIELD_CHECKS)), `${model.id}: fields no check covers`).toEqual([]);
      for (const lang of LANGS) {
        const page = pages.get(lang === 'en' ? `/docs/models/${model.id}` : `/bn/docs/models/${model.id}`)!;
        for (const [field, check] of Object.entries(FIELD_CHECKS)) {
          try {
            check(page, model, lang);
          } catch (error) {
            throw new Error(`${lang} page of ${model.id}, field ${field}: ${(error as Error).message}`, { cause: error });
          }
        }
        const t = DICTIONARIES[lang];
        expect(headers(page.querySelector('section[aria-labelledby="request-contract"] table'))).toEqual([t.col_key, t.col_type, t.col_required, t.col_default, t.col_description]);
        expect(rows(page.querySelector('section[aria-labelledby="request-contract"] table')).map((row) => row.slice(0, 4))).toEqual([
          ['model', 'string', 'Yes', model.id], ['prompt', 'string', 'Yes', '-'], ['params', 'object', 'No', '-'], ['client_request_id', 'string', 'No', '-'],
        ]);
        expect(headers(page.querySelector('section[aria-labelledby="model-parameters"] table'))).toEqual([t.col_key, t.col_type, t.col_required, t.col_default, t.col_range, t.col_options, t.col_description]);
        expect(page.querySelectorAll('section[aria-labelledby="common-errors"] li').map((li) => text(li)))
          .toEqual(['validation_failed', 'insufficient_credits', 'idempotency_conflict', 'rate_limited', 'not_found']);
        // The sections in the seed page's order, then the snippets.
        expect(page.querySelectorAll('main section').map((section) => section.getAttribute('aria-labelledby'))).toEqual([
          'request-contract', 'model-parameters', 'upload-policy', 'minimal-request', 'reference-request', 'create-response', 'common-errors', 'snippets',
        ]);
        const snippets = page.querySelectorAll('section[aria-labelledby="snippets"] pre code').map((code) => code.text);
        expect(snippets).toHaveLength(3);
        expect(snippets[0]).toContain(JSON.stringify(model.examples.minimal));
        expect(snippets[1]).toContain('rivya.tasks.run(');
        expect(snippets[2]).toContain(`rivya generate 'A cinematic product reveal with smooth camera movement' --model ${model.id}`);
      }
    }
  });

  it('holds each seed page, line by line and in its order, in the Markdown of its model page', async () => {
    for (const [seed, url] of [['sora-2-pro.en.txt', '/docs/models/sora-2-pro.md'], ['sora-2.bn.txt', '/bn/docs/models/sora-2.md']] as const) {
      const markdown = (await app.inject({ url })).body;
      // The seed files run a code block's closing brace into the next heading (`}Reference-file request`).
      const lines = readFileSync(new URL(seed, SEEDS), 'utf8').replace(/\}(?=\S)/g, '}\n').split('\n').map((line) => line.trim()).filter(Boolean);
      let at = 0;
      for (const line of lines) {
        const found = markdown.indexOf(line, at);
        expect(found, `${seed}: "${line}" after offset ${at}`).toBeGreaterThanOrEqual(0);
        at = found + line.length;
      }
    }
  });

  it('serves each model page as Markdown, and lists them in /llms.txt', async () => {
    for (const model of MODELS) {
      for (const lang of LANGS) {
        const path = `${lang === 'en' ? '' : '/bn'}/docs/models/${model.id}.md`;
        const response = await app.inject({ url: path });
        expect(response.statusCode).toBe(200);
        expect(response.headers['content-type']).toBe('text/markdown; charset=utf-8');
        expect(response.body.split('\n')[0]).toBe(`# ${DICTIONARIES[lang].model_title.replace('{name}', model.name)}`);
        for (const param of model.params) {
          expect(response.body).toContain(`| ${param.key} | select | No | ${param.default ?? '-'} | - | ${param.options.join(', ')} | ${param.description} |`);
        }
      }
    }
    const llms = await app.inject({ url: '/llms.txt' });
    expect(llms.statusCode).toBe(200);
    expect(llms.headers['content-type']).toBe('text/plain; charset=utf-8');
    const urls = [...llms.body.matchAll(/\]\((http[^)]+)\)/g)].map((match) => match[1]!);
    for (const model of MODELS) {
      expect(urls).toContain(`${PUBLIC_URL}/docs/models/${model.id}.md`);
      expect(urls).toContain(`${PUBLIC_URL}/bn/docs/models/${model.id}.md`);
    }
    for (const url of urls) expect((await app.inject({ url: new URL(url).pathname })).statusCode, url).toBe(200);
  });
});

describe('the pages\' dictionaries', () => {
  it('have the same keys in every language', () => {
    const keys = Object.keys(DICTIONARIES.en).sort();
    for (const lang of LANGS) expect(Object.keys(DICTIONARIES[lang]).sort(), lang).toEqual(keys);
  });

  it('translate every Bengali string but the listed ones (names, ids, code, and what the Bengali seed keeps in English)', () => {
    const same = new Set<string>(SAME_IN_EVERY_LANGUAGE);
    // Translated, yet in Latin script: the Bengali seed page's own title ("Sora 2 API integration").
    const latinInBengali = new Set(['model_title']);
    for (const [key, english] of Object.entries(DICTIONARIES.en)) {
      const bengali = DICTIONARIES.bn[key as keyof typeof DICTIONARIES.bn];
      if (same.has(key)) {
        expect(bengali, `${key} is listed as the same in every language`).toBe(english);
        continue;
      }
      expect(bengali, `${key}: not translated`).not.toBe(english);
      if (!latinInBengali.has(key)) expect(bengali, `${key}: no Bengali in it`).toMatch(/[\u0980-\u09FF]/);
    }
  });
});
