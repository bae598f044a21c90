import { PGlite, type PGliteOptions } from '@electric-sql/pglite';
import { initPgliteDataDir } from './pglite-initdb.js';
import { PGLITE_START_PARAMS, useBaselineWasmCompiler } from './pglite-settings.js';

/**
 * Starts PGlite the light way: a data dir without a database is created first in a child
 * process (`initPgliteDataDir`), and the server runs with `PGLITE_START_PARAMS` and V8's
 * baseline WebAssembly compiler. `dataDir` undefined keeps the database in memory.
 */
export async function openPglite(dataDir: string | undefined, options: Pick<PGliteOptions, 'parsers'> = {}): Promise<PGlite> {
  useBaselineWasmCompiler();
  if (dataDir) await initPgliteDataDir(dataDir);
  return PGlite.create({ ...options, ...(dataDir ? { dataDir } : {}), startParams: [...PGLITE_START_PARAMS] });
}
