import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { isProcessAlive } from '../process-alive.js';
import { PGLITE_SETTINGS, PGLITE_START_PARAMS, useBaselineWasmCompiler } from './pglite-settings.js';

const STAGING_SUFFIX = '.initdb-';

/**
 * Makes sure the embedded data dir `dataDir` holds a database, creating one if it has none.
 * PGlite's initdb runs a second PostgreSQL beside the first and copies its whole memory: run in
 * the serving process, it left that process ~500 MB larger for good (WebAssembly memory is
 * never given back). So it runs in a short-lived child process, into a directory beside
 * `dataDir` that is renamed into place once complete: a first start killed half way leaves no
 * half-made database behind. The caller holds the data dir's lock.
 */
export async function initPgliteDataDir(dataDir: string): Promise<void> {
  if (existsSync(join(dataDir, 'PG_VERSION'))) return;
  const entries = await readdir(dataDir).catch(() => [] as string[]);
  if (entries.length > 0) {
    throw new Error(`${dataDir} is not empty but holds no database (no PG_VERSION): move it away, or remove it to start anew.`);
  }
  await removeAbandonedStaging(dataDir);
  const staging = `${dataDir}${STAGING_SUFFIX}${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await runInChild(staging);
  // Replaces a missing or empty directory in one step.
  await rename(staging, dataDir);
}

/** Staging directories of first starts whose process is gone. */
async function removeAbandonedStaging(dataDir: string): Promise<void> {
  const prefix = `${basename(dataDir)}${STAGING_SUFFIX}`;
  for (const name of await readdir(dirname(dataDir)).catch(() => [] as string[])) {
    const pid = Number(name.slice(prefix.length));
    if (name.startsWith(prefix) && Number.isInteger(pid) && !isProcessAlive(pid)) {
      await rm(join(dirname(dataDir), name), { recursive: true, force: true });
    }
  }
}

/** Runs this file as a script in a new Node process (TypeScript through tsx, like the CLI). */
async function runInChild(staging: string): Promise<void> {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const child = spawn(process.execPath, ['--import', tsx, fileURLToPath(import.meta.url), staging], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const code = await new Promise<number | null>((done, fail) => {
    child.once('error', fail);
    child.once('exit', done);
  });
  if (code !== 0) {
    await rm(staging, { recursive: true, force: true });
    throw new Error(`Creating the embedded database in ${staging} failed (exit code ${code}):\n${stderr}`);
  }
}

/** The child: PGlite runs initdb on an empty directory, then shuts down cleanly. */
async function initdbHere(dir: string): Promise<void> {
  useBaselineWasmCompiler();
  const pg = await PGlite.create({
    dataDir: dir,
    startParams: [...PGLITE_START_PARAMS],
    // Written into the new postgresql.conf too, so the file says what the server runs with.
    initDbStartParams: Object.entries(PGLITE_SETTINGS).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
  });
  await pg.close();
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await initdbHere(process.argv[2] ?? '');
}
