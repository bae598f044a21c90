import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** Where `npm run build:console` writes the console's script (git-ignored; built by `npm ci`). */
export const CONSOLE_BUNDLE = fileURLToPath(new URL('../../../build/console/console.js', import.meta.url));
const ENTRY = fileURLToPath(new URL('./client/main.ts', import.meta.url));

/**
 * Bundles the console's client script (TypeScript, no framework) with esbuild: one minified
 * file for browsers, no source maps shipped. esbuild comes with tsx, so an installed service can
 * build it too.
 */
export async function buildConsoleBundle({ write = true }: { write?: boolean } = {}): Promise<Buffer> {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [ENTRY], outfile: CONSOLE_BUNDLE, bundle: true, minify: true, format: 'iife', target: ['es2020'],
    platform: 'browser', legalComments: 'none', logLevel: 'warning', write,
  });
  return write ? readFile(CONSOLE_BUNDLE) : Buffer.from((result.outputFiles ?? [])[0]?.contents ?? new Uint8Array());
}

/**
 * Builds the bundle if it is missing (`rivya serve` from a checkout that never ran `npm ci`'s
 * build). Where the package's folder is read-only, the bundle is built in memory instead.
 */
export async function ensureConsoleBundle(): Promise<Buffer> {
  if (existsSync(CONSOLE_BUNDLE)) return readFile(CONSOLE_BUNDLE);
  return buildConsoleBundle().catch(() => buildConsoleBundle({ write: false }));
}

let cached: Promise<Buffer> | null = null;
/** The bundle's bytes, read once (built first if missing). */
export function consoleBundle(): Promise<Buffer> {
  cached ??= ensureConsoleBundle();
  cached.catch(() => (cached = null));
  return cached;
}
