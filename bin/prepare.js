#!/usr/bin/env node
// npm's `prepare` (after `npm ci`/`npm install` in the repository, and before `npm pack`): builds the
// console's client script. `npm pack` of a checkout whose dependencies are not installed yet runs it
// too; then there is nothing to build with, and nothing is lost — `rivya serve` builds the script on
// start when it is missing (esbuild is a dependency of the service).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

try {
  createRequire(import.meta.url).resolve('tsx/esm/api');
} catch {
  // On stderr: `npm pack --json` prints its JSON on stdout.
  console.error('prepare: dependencies not installed; the console is built by `rivya serve` on start');
  process.exit(0);
}
const built = spawnSync(process.execPath, ['bin/run-ts.js', 'scripts/build-console.ts'], { stdio: ['inherit', 2, 'inherit'] });
process.exit(built.status ?? 1);
