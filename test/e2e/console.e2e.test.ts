import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_BUNDLE } from '../../src/pages/console/bundle.js';
import { ARTIFACTS, launchChromium, seriousAxeViolations, skipWithoutChromium, watchPage } from '../helpers/browser.js';
import { makeMedia } from '../helpers/media.js';
import { apiClient, devKey, startServe, type ServeProcess } from '../helpers/serve-process.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

/**
 * The web console in a real browser: Debian's chromium driven by playwright-core, against
 * `rivya serve` as a user runs it. Without a chromium the file skips, saying so, unless CI=true:
 * then it fails (.ci/run installs chromium).
 */
const SKIP = skipWithoutChromium('console e2e');

/** What the tests read of a `<video>` (the tests are typed without the DOM library). */
interface VideoElement { readyState: number; duration: number; videoWidth: number }

const PAGES = ['/console', '/console/tasks', '/console/credits', '/console/files', '/console/keys', '/console/webhooks'];

describe.skipIf(SKIP)('the web console in chromium', () => {
  let dataDir: string;
  let serve: ServeProcess;
  let browser: Browser;
  let key: string;
  let receiver: WebhookReceiver;
  const problems: string[] = [];
  const loadTimes: Record<string, number> = {};

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'rivya-console-e2e-'));
    await mkdir(ARTIFACTS, { recursive: true });
    receiver = await startWebhookReceiver();
    [serve, browser] = await Promise.all([
      // Webhooks to the loopback receiver: insecure URLs allowed for this test's service only.
      startServe({ RIVYA_DATA_DIR: dataDir, RIVYA_WEBHOOKS_ALLOW_INSECURE: 'true' }),
      launchChromium(['--autoplay-policy=no-user-gesture-required']),
    ]);
    key = await devKey(dataDir);
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    serve?.process.kill('SIGKILL');
    await receiver?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    console.log(`[console e2e] page loads (ms): ${JSON.stringify(loadTimes)}`);
  });

  /** A page that records console errors, failed requests of the page's own and CSP violations as problems. */
  const watch = (page: Page, allow: RegExp[] = []): Page => watchPage(page, problems, allow);
  const signIn = async (context: BrowserContext, withKey = key): Promise<Page> => {
    const page = watch(await context.newPage());
    await page.goto(`${serve.url}/console/sign-in`);
    await page.getByLabel('API key').fill(withKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${serve.url}/console`);
    return page;
  };
  const cookieOf = async (context: BrowserContext) => {
    const cookie = (await context.cookies()).find((c) => c.name === 'rivya_session');
    expect(cookie).toBeDefined();
    return `rivya_session=${cookie!.value}`;
  };
  const axe = async (page: Page, name: string) => expect(await seriousAxeViolations(page, name)).toEqual([]);
  const noProblems = () => expect(problems.splice(0)).toEqual([]);

  it('keeps the client script within its budget', async () => {
    const bytes = await readFile(CONSOLE_BUNDLE);
    const gzipped = gzipSync(bytes).length;
    console.log(`[console e2e] console.js: ${bytes.length} bytes, ${gzipped} gzipped`);
    expect(gzipped).toBeLessThanOrEqual(150 * 1024);
  });

  it('signs in with the dev key, generates a sora-2 video with live progress, and shows it in Tasks and Credits', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signIn(context);
    // Price and available credits shown before submitting.
    await expect.poll(() => page.locator('#available').textContent()).toBe('1000 credits');
    expect(await page.locator('#price').textContent()).toBe('6 credits');
    // Each model shows its own params: sora-2 has no size, sora-2-pro has (and its price).
    expect(await page.locator('#param-size').isVisible()).toBe(false);
    await page.getByLabel('Model').selectOption('sora-2-pro');
    expect(await page.locator('#param-size').isVisible()).toBe(true);
    expect(await page.locator('#price').textContent()).toBe('75 credits');
    await page.getByLabel('Model').selectOption('sora-2');
    expect(await page.locator('#param-size').isVisible()).toBe(false);
    await page.getByLabel('Prompt').fill('A paper boat drifting down a rainy street');
    expect(await page.locator('#prompt-count').textContent()).toBe('41 of 10000 characters');
    // The code panel follows the form.
    await page.getByLabel(/Aspect ratio/).selectOption('landscape');
    expect(await page.locator('#code-curl').textContent()).toContain('"prompt":"A paper boat drifting down a rainy street"');
    expect(await page.locator('#code-cli').textContent()).toContain('--model sora-2');
    await page.screenshot({ path: join(ARTIFACTS, 'console-playground.png'), fullPage: true });
    await page.getByRole('button', { name: 'Generate' }).click();
    const seen = new Set<string>();
    const progress = page.locator('#result-progress');
    await expect.poll(async () => {
      seen.add(`${await page.locator('#result-status').textContent()}:${await progress.getAttribute('value') ?? ''}`);
      return page.locator('#result-status').textContent();
    }, { timeout: 90_000, interval: 100 }).toBe('succeeded');
    // Progress moved: more than the start and the end were seen.
    expect(seen.size, [...seen].join(' ')).toBeGreaterThan(2);
    const video = page.locator('#result-video');
    await expect.poll(() => video.evaluate((v) => (v as unknown as VideoElement).readyState), { timeout: 20_000 }).toBeGreaterThanOrEqual(1);
    const { duration, width } = await video.evaluate((v) => ({ duration: (v as unknown as VideoElement).duration, width: (v as unknown as VideoElement).videoWidth }));
    expect(duration).toBeGreaterThan(9.5);
    expect(duration).toBeLessThan(10.5);
    expect(width).toBe(1280);
    expect(await page.locator('#result-download').getAttribute('href')).toMatch(/^http/);
    await page.screenshot({ path: join(ARTIFACTS, 'console-playground-result.png'), fullPage: true });
    const taskId = (await page.locator('#result-task').textContent())!;

    await page.getByRole('link', { name: 'Tasks', exact: true }).click();
    await expect.poll(() => page.locator(`tr[data-task="${taskId}"] .status`).textContent()).toBe('succeeded');
    await page.locator('#filter-status').selectOption('succeeded');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => page.locator('#task-rows tr').count()).toBe(1);
    await page.getByRole('link', { name: taskId }).click();
    await expect.poll(() => page.locator('#task-facts').getAttribute('data-status')).toBe('succeeded');
    await expect.poll(() => page.locator('#ledger-rows tr').count()).toBe(2); // hold, capture
    await page.screenshot({ path: join(ARTIFACTS, 'console-task.png'), fullPage: true });

    // Cursor paging: one task a page, the next one on "Load more".
    await page.goto(`${serve.url}/console/tasks?limit=1`);
    await expect.poll(() => page.locator('#task-rows tr[data-task]').count()).toBe(1);
    const api = apiClient(serve.url, key);
    const created = await api<{ id: string }>('/api/v1/tasks', { method: 'POST', body: { model: 'sora-2', prompt: 'One more, canceled at once' } });
    expect((await api(`/api/v1/tasks/${created.body.id}/cancel`, { method: 'POST' })).status).toBe(200);
    await page.reload();
    await expect.poll(() => page.locator('#task-rows tr[data-task]').count()).toBe(1);
    await page.getByRole('button', { name: 'Load more' }).click();
    await expect.poll(() => page.locator('#task-rows tr[data-task]').count()).toBe(2);
    expect(await page.locator('#more').isVisible()).toBe(false);
    expect(await page.locator(`tr[data-task="${taskId}"] .status`).textContent()).toBe('succeeded');

    await page.getByRole('link', { name: 'Credits', exact: true }).click();
    await expect.poll(() => page.locator('#credits-balance').textContent()).toBe('994');
    await expect.poll(() => page.locator('#credits-held').textContent()).toBe('0');
    await expect.poll(() => page.locator('#ledger-rows tr[data-type="capture"]').count()).toBe(1);
    await expect.poll(() => page.locator('#chart rect[data-spent="6"]').count()).toBe(1);
    noProblems();
    await context.close();
  }, 180_000);

  it('shows the API\'s message next to a param forced to a bad value through the DOM', async () => {
    const context = await browser.newContext();
    const page = await signIn(context);
    // The browser logs a failed fetch (400) as a console error: expected here.
    page.removeAllListeners('console');
    watch(page, [/status of 400/]);
    await page.getByLabel('Prompt').fill('A bad duration');
    await page.evaluate("document.getElementById('param-n_frames').add(new Option('12', '12', true, true))");
    await page.getByRole('button', { name: 'Generate' }).click();
    const error = page.locator('[data-error-for="params.n_frames"]');
    await expect.poll(() => error.isVisible()).toBe(true);
    expect(await error.textContent()).toMatch(/10.*15|one of/);
    expect(await page.locator('#param-n_frames').getAttribute('aria-invalid')).toBe('true');
    noProblems();
    await context.close();
  }, 60_000);

  it('creates a key shown once, which works over the API, and revokes it (then 401); its own key only after a confirmation', async () => {
    const context = await browser.newContext();
    const page = await signIn(context);
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByLabel('Name of the new key').fill('from the console');
    await page.getByRole('button', { name: 'Create a key' }).click();
    await expect.poll(() => page.locator('#key-created').isVisible()).toBe(true);
    const created = (await page.locator('#key-secret').textContent())!;
    expect(created).toMatch(/^rv_/);
    const api = apiClient(serve.url, created);
    expect((await api('/api/v1/account')).status).toBe(200);
    await page.screenshot({ path: join(ARTIFACTS, 'console-keys.png'), fullPage: true });
    const prefix = created.slice(0, 10);
    await page.getByRole('button', { name: `Revoke ${prefix}` }).click();
    await expect.poll(() => page.locator('#key-rows tr', { hasText: prefix }).count()).toBe(0);
    await expect.poll(async () => (await api('/api/v1/account')).status).toBe(401);
    // Revoking the session's own key asks first; declining keeps it.
    const ownRow = page.locator('#key-rows tr', { hasText: 'this session' });
    let asked = '';
    page.once('dialog', (dialog) => { asked = dialog.message(); void dialog.dismiss(); });
    await ownRow.getByRole('button').click();
    await expect.poll(() => asked).toContain('ends this session');
    expect(await ownRow.count()).toBe(1);
    noProblems();
    await context.close();
  }, 60_000);

  it('uploads a reference image (preview) and generates from it; cancels a running task and releases its credits', async () => {
    const image = await makeMedia(join(dataDir, 'reference.png'), 'image');
    const context = await browser.newContext();
    const page = await signIn(context);
    const cookie = await cookieOf(context);
    const account = async () => (await (await fetch(`${serve.url}/api/v1/account`, { headers: { cookie } })).json()) as { credits: { available: number; held: number } };
    await page.getByLabel('Prompt').fill('The reference, slowly zooming in');
    await page.locator('#reference').setInputFiles(image);
    await expect.poll(() => page.locator('#reference-preview').isVisible()).toBe(true);
    expect(await page.locator('#code-curl').textContent()).toContain('referenceMediaItems');
    await page.getByRole('button', { name: 'Generate' }).click();
    await expect.poll(() => page.locator('#result-status').textContent(), { timeout: 90_000 }).toBe('succeeded');
    const firstTask = (await page.locator('#result-task').textContent())!;
    const task = (await (await fetch(`${serve.url}/api/v1/tasks/${firstTask}`, { headers: { cookie } })).json()) as { params: { referenceMediaItems?: unknown[] } };
    expect(task.params.referenceMediaItems).toHaveLength(1);
    await page.goto(`${serve.url}/console/files`);
    await expect.poll(() => page.locator('#file-rows img.thumb').count()).toBeGreaterThanOrEqual(1);
    await page.screenshot({ path: join(ARTIFACTS, 'console-files.png'), fullPage: true });
    // Delete: asks first, then the file is gone from the list and from the API.
    const files = async () => ((await (await fetch(`${serve.url}/api/v1/files`, { headers: { cookie } })).json()) as { data: unknown[] }).data.length;
    const count = await files();
    page.once('dialog', (dialog) => void dialog.accept());
    await page.locator('#file-rows tr').first().getByRole('button', { name: /^Delete / }).click();
    await expect.poll(files).toBe(count - 1);
    await expect.poll(() => page.locator('#file-rows img.thumb').count()).toBe(count - 1);

    // Cancel: a 15 s video takes long enough to catch running.
    await page.goto(`${serve.url}/console`);
    await page.getByLabel('Prompt').fill('To be canceled');
    await page.locator('#param-n_frames').selectOption('15');
    await page.getByRole('button', { name: 'Generate' }).click();
    await expect.poll(() => page.locator('#result-task').textContent()).toMatch(/^task_/);
    const before = await account();
    expect(before.credits.held).toBeGreaterThanOrEqual(6);
    await page.locator('#result-task').click();
    await page.getByRole('button', { name: 'Cancel the task' }).click();
    await expect.poll(() => page.locator('#task-facts').getAttribute('data-status'), { timeout: 20_000 }).toBe('canceled');
    await expect.poll(async () => (await account()).credits.held).toBe(0);
    expect((await account()).credits.available).toBe(before.credits.available + 6);
    noProblems();
    await context.close();
  }, 180_000);

  it('refuses a cross-site POST and a POST without the CSRF token; sign-out ends the session', async () => {
    const context = await browser.newContext();
    const page = await signIn(context);
    const cookie = await cookieOf(context);
    const crossSite = await fetch(`${serve.url}/api/v1/keys`, {
      method: 'POST', headers: { cookie, 'content-type': 'application/json', origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }, body: '{}',
    });
    expect(crossSite.status).toBe(401);
    expect(((await crossSite.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    page.removeAllListeners('console');
    watch(page, [/status of 401/]);
    const inPage = await page.evaluate(async () => (await fetch('/api/v1/keys', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status);
    expect(inPage).toBe(401);
    expect((await fetch(`${serve.url}/api/v1/account`, { headers: { cookie } })).status).toBe(200);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${serve.url}/console/sign-in`);
    expect((await fetch(`${serve.url}/api/v1/account`, { headers: { cookie } })).status).toBe(401);
    noProblems();
    await context.close();
  }, 60_000);

  it('manages webhooks: adds an endpoint (secret shown once), sends a test that is delivered, rotates the secret', async () => {
    const context = await browser.newContext();
    const page = await signIn(context);
    await page.getByRole('link', { name: 'Webhooks' }).click();
    await page.getByLabel('Endpoint URL').fill(`${receiver.url}/hooks/console`);
    await page.getByRole('button', { name: 'Add an endpoint' }).click();
    await expect.poll(() => page.locator('#webhook-secret').textContent()).toMatch(/^whsec_/);
    const first = await page.locator('#webhook-secret').textContent();
    const row = page.locator('#webhook-rows tr', { hasText: '/hooks/console' });
    await row.getByRole('button', { name: 'Send a test' }).click();
    await expect.poll(async () => {
      await row.getByRole('button', { name: 'Deliveries' }).click();
      return page.locator('#delivery-rows tr[data-status="succeeded"]').count();
    }, { timeout: 20_000, interval: 500 }).toBe(1);
    expect(receiver.received.some((hook) => hook.path === '/hooks/console' && hook.body.includes('webhook.test'))).toBe(true);
    await row.getByRole('button', { name: 'Rotate the secret' }).click();
    await expect.poll(() => page.locator('#webhook-secret').textContent()).not.toBe(first);
    await page.screenshot({ path: join(ARTIFACTS, 'console-webhooks.png'), fullPage: true });
    noProblems();
    await context.close();
  }, 60_000);

  it('revokes the key the session signed in with after a confirmation, which ends the session', async () => {
    const api = apiClient(serve.url, key);
    const spare = (await api<{ key: string }>('/api/v1/keys', { method: 'POST', body: { name: 'spare' } })).body.key;
    const context = await browser.newContext();
    const page = await signIn(context, spare);
    const cookie = await cookieOf(context);
    await page.goto(`${serve.url}/console/keys`);
    page.once('dialog', (dialog) => void dialog.accept());
    await page.locator('#key-rows tr', { hasText: 'this session' }).getByRole('button').click();
    await page.waitForURL(`${serve.url}/console/sign-in`);
    expect((await fetch(`${serve.url}/api/v1/account`, { headers: { cookie } })).status).toBe(401);
    expect((await apiClient(serve.url, spare)('/api/v1/account')).status).toBe(401);
    noProblems();
    await context.close();
  }, 60_000);

  it('has no serious accessibility violation, no console error, and works at 360 px, on every page in both languages', async () => {
    for (const viewport of [{ width: 360, height: 740 }, { width: 1280, height: 900 }]) {
      const context = await browser.newContext({ viewport });
      const anonymous = watch(await context.newPage());
      const started = Date.now();
      await anonymous.goto(`${serve.url}/console/sign-in`);
      loadTimes[`sign-in@${viewport.width}`] = Date.now() - started;
      await axe(anonymous, 'sign-in');
      const page = await signIn(context);
      for (const lang of ['', '/bn']) {
        for (const path of PAGES) {
          const url = `${serve.url}${lang}${path}`;
          const t0 = Date.now();
          await page.goto(url, { waitUntil: 'load' });
          loadTimes[`${lang}${path}@${viewport.width}`] = Date.now() - t0;
          await page.waitForLoadState('networkidle').catch(() => undefined);
          await axe(page, `${lang}${path}@${viewport.width}`);
          // Nothing wider than the screen but scrollable tables.
          const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
          expect(overflow, `${url} at ${viewport.width}px`).toBeLessThanOrEqual(0);
          const name = `${lang ? 'bn-' : ''}${path.slice(1).replace(/\//g, '-')}-${viewport.width}`;
          await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
        }
      }
      await context.close();
    }
    noProblems();
  }, 240_000);
});
