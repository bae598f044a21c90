import pg from 'pg';
import type { Database, QueryResult, Transaction } from './port.js';

export interface PostgresDatabaseConfig {
  connectionString: string;
  /** Pool size; default 10. */
  maxConnections?: number | undefined;
  /** How long to wait for a connection before failing; default 5000 ms. */
  connectTimeoutMs?: number | undefined;
}

// Return bigint columns (counts, balances) as numbers: credits stay far below 2^53.
pg.types.setTypeParser(20, (value: string) => Number(value));

/** The server backend: a pool of connections to PostgreSQL. */
export async function createPostgresDatabase(config: PostgresDatabaseConfig): Promise<Database> {
  const pool = new pg.Pool({
    connectionString: config.connectionString,
    max: config.maxConnections ?? 10,
    connectionTimeoutMillis: config.connectTimeoutMs ?? 5000,
    application_name: 'rivya',
  });
  // An idle client that loses its connection must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  const wrap = (runner: pg.Pool | pg.PoolClient): Transaction => ({
    exec: async (script: string) => {
      const result = (await runner.query(script)) as pg.QueryResult | pg.QueryResult[];
      const last = Array.isArray(result) ? result[result.length - 1] : result;
      return { rows: (last?.rows ?? []) as Record<string, unknown>[], rowCount: last?.rowCount ?? 0 };
    },
    query: async <Row,>(text: string, params: readonly unknown[] = []): Promise<QueryResult<Row>> => {
      const result: pg.QueryResult = await runner.query(text, [...params]);
      return { rows: result.rows as Row[], rowCount: result.rowCount ?? result.rows.length };
    },
  });
  const base = wrap(pool);
  return {
    kind: 'postgres',
    query: base.query,
    async transaction(work) {
      const client = await pool.connect();
      let broken = false;
      try {
        await client.query('BEGIN');
        const value = await work(wrap(client));
        await client.query('COMMIT');
        return value;
      } catch (error) {
        try {
          await client.query('ROLLBACK');
        } catch {
          broken = true;
        }
        throw error;
      } finally {
        client.release(broken);
      }
    },
    exec: base.exec,
    async ping() {
      try {
        await pool.query('SELECT 1');
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      if (!pool.ended) await pool.end();
    },
  };
}
