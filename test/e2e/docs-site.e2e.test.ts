import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODELS } from '../../src/catalog/models.js';
import { formatBytes } from '../../src/pages/docs/model-page.js';
import { DICTIONARIES } from '../../src/pages/i18n.js';
import { ARTIFACTS, launchChromium, seriousAxeViolations, skipWithoutChromium, watchPage } from '../helpers/browser.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';

/**
 * The public docs site in a real browser (Debian's chromium driven by playwright-core) against
 * `rivya serve` as a user runs it: every page in both languages, the sora-2-pro page against its
 * catalog record, accessibility at a desktop and a 360 px width, first-load time, screenshots.
 */
const SKIP = skipWithoutChromium('docs e2e');

const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 360, height: 740 };
const LANGS = ['', '/bn'] as const;
const LOAD_BUDGET_MS = 500;

/** Where the crawl goes: the docs in both languages and what llms.txt lists. */
const CRAWLED = /^\/(bn\/)?docs(\/|$)|^\/llms\.txt$/;

describe.skipIf(SKIP)('the docs site in chromium', () => {
  let dataDir: string;
  let serve: ServeProcess;
  let browser: Browser;
  const problems: string[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'rivya-docs-e2e-'));
    await mkdir(ARTIFACTS, { recursive: true });
    [serve, browser] = await Promise.all([startServe({ RIVYA_DATA_DIR: dataDir }), launchChromium()]);
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    serve?.process.kill('SIGKILL');
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /**
   * A context whose pages record console errors, uncaught exceptions, CSP violations (as the page
   * sees them), failed requests and same-origin answers of 400 or more as problems.
   */
  const newContext = async (viewport = DESKTOP): Promise<BrowserContext> => {
    const context = await browser.newContext({ viewport });
    // Run before the page's own scripts, outside its CSP (the tests are typed without the DOM library: a string).
    await context.addInitScript({
      content: "document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI));",
    });
    context.on('page', (page) => {
      watchPage(page, problems);
      page.on('requestfailed', (request) => problems.push(`${page.url()}: request failed: ${request.url()} (${request.failure()?.errorText ?? ''})`));
      page.on('response', (response) => {
        if (response.status() >= 400) problems.push(`${page.url()}: ${response.status()} for ${response.url()}`);
      });
    });
    return context;
  };
  const noProblems = () => expect(problems.splice(0)).toEqual([]);

  /** Goes to a docs page and waits until its scripts are done (the API reference renders after fetching the OpenAPI document). */
  const open = async (page: Page, path: string): Promise<number> => {
    const response = await page.goto(`${serve.url}${path}`, { waitUntil: 'load' });
    await page.waitForLoadState('networkidle');
    if (path.endsWith('/docs/api')) await page.locator('#api-reference .opblock').first().waitFor({ timeout: 20_000 });
    return response?.status() ?? 0;
  };

  it(`loads /docs and a model page, cold, in under ${LOAD_BUDGET_MS} ms each`, async () => {
    const times: Record<string, number> = {};
    for (const path of ['/docs', '/docs/models/sora-2-pro', '/bn/docs', '/bn/docs/models/sora-2']) {
      // A new context each: nothing cached, as a first visit.
      const context = await newContext();
      const page = await context.newPage();
      const response = await page.goto(`${serve.url}${path}`, { waitUntil: 'load' });
      expect(response?.status()).toBe(200);
      times[path] = await page.evaluate<number>(
        "(() => { const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime; })()",
      );
      await context.close();
    }
    console.log(`[docs e2e] first loads, navigation start to load event (ms): ${JSON.stringify(times)}`);
    for (const [path, ms] of Object.entries(times)) expect(ms, path).toBeLessThan(LOAD_BUDGET_MS);
    noProblems();
  }, 60_000);

  it('crawls every docs page in both languages: each 200, no console error, CSP violation or failed request, no broken link or fragment', async () => {
    const context = await newContext();
    const page = await context.newPage();
    const queue = ['/docs', '/bn/docs', '/llms.txt'];
    const status = new Map<string, number>();
    /** Element ids of each HTML page visited. */
    const ids = new Map<string, Set<string>>();
    const fragments: { from: string; path: string; id: string }[] = [];
    const others = new Set<string>();
    while (queue.length > 0) {
      const path = queue.shift()!;
      if (status.has(path)) continue;
      if (path === '/llms.txt' || path.endsWith('.md')) {
        // Text for agents, not a page: fetched with the browser's cookies and origin, links read from the text.
        const response = await context.request.get(`${serve.url}${path}`);
        status.set(path, response.status());
        for (const [, target] of (await response.text()).matchAll(/\]\(([^)\s]+)\)/g)) {
          const url = new URL(target!, `${serve.url}${path}`);
          if (url.origin !== serve.url) continue;
          if (CRAWLED.test(url.pathname)) queue.push(url.pathname); else others.add(url.pathname);
        }
        continue;
      }
      status.set(path, await open(page, path));
      expect(await page.evaluate<string>('document.contentType'), path).toBe('text/html');
      ids.set(path, new Set(await page.evaluate<string[]>("[...document.querySelectorAll('[id]')].map((e) => e.id)")));
      // The page's own links and resources; the API reference's renderer makes its own in-page links.
      const targets = await page.evaluate<string[]>(
        "[...document.querySelectorAll('[href], [src]')].filter((e) => !e.closest('#api-reference')).map((e) => e.getAttribute('href') ?? e.getAttribute('src'))",
      );
      for (const target of targets) {
        const url = new URL(target, `${serve.url}${path}`);
        if (url.origin !== serve.url) continue;
        if (url.hash) fragments.push({ from: path, path: url.pathname, id: decodeURIComponent(url.hash.slice(1)) });
        if (CRAWLED.test(url.pathname)) queue.push(url.pathname); else others.add(url.pathname);
      }
    }
    // Pages: the guides and a page per model, in both languages.
    expect(ids.size).toBeGreaterThanOrEqual(2 * (12 + MODELS.length));
    for (const lang of LANGS) for (const model of MODELS) expect(ids.has(`${lang}/docs/models/${model.id}`), `${lang} ${model.id}`).toBe(true);
    expect([...status].filter(([, code]) => code !== 200)).toEqual([]);
    // Every other same-origin target (assets, the OpenAPI document) answers too.
    for (const path of others) expect((await context.request.get(`${serve.url}${path}`)).status(), path).toBe(200);
    const broken = fragments.filter(({ path, id }) => !ids.get(path)?.has(id));
    expect(broken).toEqual([]);
    console.log(`[docs e2e] crawled ${status.size} documents, ${others.size} other targets, ${fragments.length} fragment links`);
    noProblems();
    await context.close();
  }, 180_000);

  it('shows every value of the sora-2-pro catalog record on its page, in both languages', async () => {
    const model = MODELS.find((m) => m.id === 'sora-2-pro')!;
    const context = await newContext();
    const page = await context.newPage();
    for (const lang of LANGS) {
      expect(await open(page, `${lang}/docs/models/sora-2-pro`)).toBe(200);
      const where = `${lang}/docs/models/sora-2-pro`;
      const t = DICTIONARIES[lang === '/bn' ? 'bn' : 'en'];
      expect(await page.locator('main h1').innerText()).toContain(model.name);
      // The facts: ids and numbers as they are, the category and files requirement in the page's language.
      const facts = await page.locator('main dl.facts').first().innerText();
      for (const value of [model.id, model.inputs.join(', '), String(model.credits), String(model.prompt_max_chars), t[`category_${model.category}`], t[`files_${model.files}`], model.pricing.toUpperCase()]) {
        expect(facts, `${where}: ${value}`).toContain(value);
      }
      // The params table, row by row, as the browser shows it.
      const params = await page.locator('section[aria-labelledby="model-parameters"] tbody tr').evaluateAll(
        (rows) => rows.map((row) => [...row.querySelectorAll('td')].map((cell) => (cell as unknown as { innerText: string }).innerText.trim())),
      );
      expect(params.map((row) => row[0])).toEqual(model.params.map((param) => param.key));
      for (const param of model.params) {
        const row = params.find((cells) => cells[0] === param.key)!;
        expect(row[1], `${where} ${param.key} type`).toBe(param.type);
        if (param.default !== null) expect(row[3], `${where} ${param.key} default`).toBe(param.default);
        for (const option of param.options) expect(row[5]!.split(/,\s*/), `${where} ${param.key} options`).toContain(option);
        expect(row[6], `${where} ${param.key} description`).toContain(param.description);
      }
      // Upload policy: each kind, its size limit and its MIME types.
      const upload = await page.locator('section[aria-labelledby="upload-policy"]').innerText();
      expect(upload).toContain(String(model.upload_policy.max_files));
      const kinds = await page.locator('section[aria-labelledby="upload-policy"] tbody tr').evaluateAll(
        (rows) => rows.map((row) => [...row.querySelectorAll('td')].map((cell) => (cell as unknown as { innerText: string }).innerText.trim())),
      );
      expect(kinds.map((row) => row[0])).toEqual(model.upload_policy.kinds.map((kind) => kind.kind));
      for (const kind of model.upload_policy.kinds) {
        const row = kinds.find((cells) => cells[0] === kind.kind)!;
        expect(row[1]).toBe(formatBytes(kind.max_bytes));
        expect(row[2]!.split(/,\s*/)).toEqual([...kind.mime_types]);
      }
      // The examples, as JSON the reader can copy.
      const json = async (section: string) => JSON.parse(await page.locator(`section[aria-labelledby="${section}"] pre code`).innerText()) as unknown;
      expect(await json('minimal-request')).toEqual(model.examples.minimal);
      expect(await json('reference-request')).toEqual(model.examples.reference);
    }
    noProblems();
    await context.close();
  }, 60_000);

  it('has no serious or critical accessibility violation on the index, the model pages, the API reference and a guide, at a desktop and at 360 px; screenshots the main pages', async () => {
    const paths = ['/docs', ...MODELS.map((model) => `/docs/models/${model.id}`), '/docs/api', '/docs/errors'];
    const screenshot = new Set(['/docs', '/docs/models/sora-2-pro', '/docs/api']);
    const violations: string[] = [];
    const shots: string[] = [];
    for (const viewport of [DESKTOP, PHONE]) {
      const context = await newContext(viewport);
      const page = await context.newPage();
      for (const lang of LANGS) {
        for (const path of paths) {
          const name = `${lang}${path}@${viewport.width}`;
          expect(await open(page, `${lang}${path}`), name).toBe(200);
          violations.push(...await seriousAxeViolations(page, name));
          // Nothing wider than the screen: wide tables and code scroll inside their own region.
          const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
          expect(overflow, name).toBeLessThanOrEqual(0);
          if (screenshot.has(path)) {
            const file = join(ARTIFACTS, `docs${lang ? '-bn' : ''}${path.slice('/docs'.length).replace(/\//g, '-')}-${viewport.width}.png`);
            await page.screenshot({ path: file, fullPage: true });
            shots.push(file);
          }
        }
      }
      await context.close();
    }
    console.log(`[docs e2e] screenshots: ${shots.join(' ')}`);
    expect(violations).toEqual([]);
    noProblems();
  }, 240_000);
});
