// Builds the console's client script into build/console/ (git-ignored): run by `npm ci` (prepare), `npm test` and `npm run build`.
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { buildConsoleBundle, CONSOLE_BUNDLE } from '../src/pages/console/bundle.js';

await buildConsoleBundle();
const bytes = readFileSync(CONSOLE_BUNDLE);
console.log(`console bundle: ${CONSOLE_BUNDLE} (${bytes.length} bytes, ${gzipSync(bytes).length} gzipped)`);
