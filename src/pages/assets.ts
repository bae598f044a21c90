import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Asset {
  body: Buffer;
  type: string;
}

const TYPES: Readonly<Record<string, string>> = {
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  svg: 'image/svg+xml',
};

function load(dir: string, names: readonly string[]): ReadonlyMap<string, Asset> {
  return new Map(names.map((name) => [name, { body: readFileSync(join(dir, name)), type: TYPES[name.split('.').pop() ?? ''] ?? 'application/octet-stream' }]));
}

const OWN_DIR = fileURLToPath(new URL('./assets/', import.meta.url));
/** The site's own files: the stylesheet and scripts shared by the docs site and the console. */
export const SITE_ASSETS = load(OWN_DIR, ['site.css', 'site.js', 'api-reference.js', 'favicon.svg']);

/** The API reference's renderer (swagger-ui-dist), served from node_modules: no CDN. */
export const SWAGGER_UI_ASSETS = load(dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json')), ['swagger-ui-bundle.js', 'swagger-ui.css']);
