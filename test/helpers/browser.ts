import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';

/**
 * The browser tests' shared pieces: Debian's chromium driven by playwright-core, axe-core injected
 * into the page, screenshots under test-artifacts/. Without a chromium a browser test file skips,
 * saying so, unless CI=true: then it fails (.ci/run installs chromium).
 */
export const CHROMIUM = process.env['RIVYA_CHROMIUM'] ?? '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
export const CI = process.env['CI'] === 'true';
/** Whether a browser test file should skip (no chromium and not CI); says why when it does. */
export function skipWithoutChromium(name: string): boolean {
  const skip = !HAVE_CHROMIUM && !CI;
  if (skip) console.warn(`[${name}] skipped: no chromium at ${CHROMIUM} (apt-get install chromium, or set RIVYA_CHROMIUM)`);
  return skip;
}

export const ARTIFACTS = join(import.meta.dirname, '../../test-artifacts');
const AXE_SOURCE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/** Launches the chromium (fails, saying why, when there is none: CI=true without it). */
export async function launchChromium(args: readonly string[] = []): Promise<Browser> {
  if (!HAVE_CHROMIUM) throw new Error(`CI=true and no chromium at ${CHROMIUM}: the browser tests cannot run.`);
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', ...args] });
}

/**
 * Records into `problems` what a page should never show: console errors (CSP violations are
 * reported there too) and uncaught exceptions, but those matching `allow`.
 */
export function watchPage(page: Page, problems: string[], allow: readonly RegExp[] = []): Page {
  page.on('console', (message) => {
    if (message.type() === 'error' && !allow.some((pattern) => pattern.test(message.text()))) problems.push(`${page.url()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`${page.url()}: ${error.message}`));
  return page;
}

interface AxeViolation { id: string; impact: string; nodes: { target: string[] }[] }

/** axe-core's serious and critical violations on the page as it is now, one line each (`name: rule (impact) at targets`). */
export async function seriousAxeViolations(page: Page, name: string): Promise<string[]> {
  await page.evaluate(await readFile(AXE_SOURCE, 'utf8'));
  const result = await page.evaluate(async () => {
    const run = (globalThis as unknown as { axe: { run: (options: object) => Promise<{ violations: AxeViolation[] }> } }).axe;
    return run.run({ resultTypes: ['violations'] });
  });
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${name}: ${v.id} (${v.impact}) at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}
