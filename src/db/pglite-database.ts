import { PGlite, types } from '@electric-sql/pglite';
import { DependencyUnavailableError } from '../errors.js';
import type { Database, QueryResult, Transaction } from './port.js';
import { openPglite } from './pglite-open.js';

export interface PgliteDatabaseConfig {
  /** Directory of the database files; `undefined` keeps the database in memory (tests). */
  dataDir?: string | undefined;
}

/**
 * The embedded backend: Postgres compiled to WASM, in this process. It has one connection,
 * so statements and transactions run one at a time; PGlite queues the rest.
 */
export async function createPgliteDatabase(config: PgliteDatabaseConfig): Promise<Database> {
  // bigint columns (balances, counts) come back as numbers: credits stay far below 2^53.
  const parsers = { [types.INT8]: (value: string) => Number(value) };
  const pg = await openPglite(config.dataDir, { parsers });
  // The embedded database is unavailable only once it is closing or closed (then every call
  // fails); any other error is the statement's own and is rethrown as is.
  const rethrow = (error: unknown): never => {
    throw !(error instanceof DependencyUnavailableError) && (pg.closed || !pg.ready)
      ? new DependencyUnavailableError('database', { cause: error })
      : error;
  };
  const wrap = (runner: Pick<PGlite, 'query' | 'exec'>): Transaction => ({
    exec: async (script: string) => {
      const results = await runner.exec(script).catch(rethrow);
      const last = results[results.length - 1];
      return { rows: last?.rows ?? [], rowCount: last?.affectedRows ?? 0 };
    },
    query: async <Row,>(text: string, params: readonly unknown[] = []): Promise<QueryResult<Row>> => {
      const result = await runner.query<Row>(text, [...params]).catch(rethrow);
      return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
    },
  });
  const base = wrap(pg);
  return {
    kind: 'pglite',
    query: base.query,
    async transaction(work) {
      // Errors of `work` pass through untouched (its statements are translated by `wrap`).
      let started = false;
      try {
        return await pg.transaction((tx) => {
          started = true;
          return work(wrap(tx));
        });
      } catch (error) {
        if (started) throw error;
        return rethrow(error);
      }
    },
    exec: base.exec,
    // One connection in this process: it is never lost, so `onReconnect` is never called.
    async listen(channel, onPayload) {
      const unlisten = await pg.listen(channel, onPayload).catch(rethrow);
      return async () => {
        if (!pg.closed) await unlisten().catch(() => {});
      };
    },
    async ping() {
      try {
        await pg.query('SELECT 1');
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      if (!pg.closed) await pg.close();
    },
  };
}
