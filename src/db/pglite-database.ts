import { PGlite, types } from '@electric-sql/pglite';
import type { Database, QueryResult, Transaction } from './port.js';

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
  const pg = await PGlite.create({ ...(config.dataDir ? { dataDir: config.dataDir } : {}), parsers });
  const wrap = (runner: Pick<PGlite, 'query' | 'exec'>): Transaction => ({
    exec: async (script: string) => {
      const results = await runner.exec(script);
      const last = results[results.length - 1];
      return { rows: last?.rows ?? [], rowCount: last?.affectedRows ?? 0 };
    },
    query: async <Row,>(text: string, params: readonly unknown[] = []): Promise<QueryResult<Row>> => {
      const result = await runner.query<Row>(text, [...params]);
      return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
    },
  });
  const base = wrap(pg);
  return {
    kind: 'pglite',
    query: base.query,
    transaction: (work) => pg.transaction((tx) => work(wrap(tx))),
    exec: base.exec,
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
