import pg from 'pg';
import { DependencyUnavailableError } from '../errors.js';
import { isSocketError } from '../socket-errors.js';
import type { Database, QueryResult, Transaction } from './port.js';
import { createPostgresListener } from './postgres-listener.js';

export interface PostgresDatabaseConfig {
  connectionString: string;
  /** Pool size; default 10. */
  maxConnections?: number | undefined;
  /** How long to wait for a connection before failing; default 5000 ms. */
  connectTimeoutMs?: number | undefined;
  /** How often the listening connection is asked whether it is still there (see `createPostgresListener`); default 5000 ms. */
  listenCheckMs?: number | undefined;
}

// Return bigint columns (counts, balances) as numbers: credits stay far below 2^53.
pg.types.setTypeParser(20, (value: string) => Number(value));

/**
 * PostgreSQL's own codes for "cannot serve now": class 08 (connection exception), the server
 * shutting down or starting (57P01–57P03), and no connection slot left (53300).
 */
function isServerUnavailable(code: string): boolean {
  return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300';
}

/**
 * pg and pg-pool signal a lost or never-made connection only by message text (a plain `Error`,
 * no code): a connection that ended mid-query, a client left unusable by a connection error, and
 * the pool's connect timeout. This is the one place that knowledge lives.
 */
const CONNECTION_LOST_MESSAGE =
  /^(Connection terminated|timeout exceeded when trying to connect|timeout expired|Client has encountered a connection error|Client was closed)/;

/** True when `error` means the server cannot be reached or cannot serve now (not a bad statement). */
function isConnectionFailure(error: unknown): boolean {
  if (error instanceof pg.DatabaseError) return typeof error.code === 'string' && isServerUnavailable(error.code);
  if (!(error instanceof Error)) return false;
  return isSocketError(error) || CONNECTION_LOST_MESSAGE.test(error.message);
}

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
  /** The server out of reach (or this pool closed) becomes `DependencyUnavailableError`; anything else is rethrown as is. */
  const translate = (error: unknown): unknown =>
    !(error instanceof DependencyUnavailableError) && (pool.ended || isConnectionFailure(error))
      ? new DependencyUnavailableError('database', { cause: error })
      : error;
  const rethrow = (error: unknown): never => {
    throw translate(error);
  };
  const wrap = (runner: pg.Pool | pg.PoolClient): Transaction => ({
    exec: async (script: string) => {
      const result = (await runner.query(script).catch(rethrow)) as pg.QueryResult | pg.QueryResult[];
      const last = Array.isArray(result) ? result[result.length - 1] : result;
      return { rows: (last?.rows ?? []) as Record<string, unknown>[], rowCount: last?.rowCount ?? 0 };
    },
    query: async <Row,>(text: string, params: readonly unknown[] = []): Promise<QueryResult<Row>> => {
      const result: pg.QueryResult = await runner.query(text, [...params]).catch(rethrow);
      return { rows: result.rows as Row[], rowCount: result.rowCount ?? result.rows.length };
    },
  });
  const base = wrap(pool);
  const listener = createPostgresListener({
    connectionString: config.connectionString, connectTimeoutMs: config.connectTimeoutMs, checkMs: config.listenCheckMs,
  });
  return {
    kind: 'postgres',
    query: base.query,
    async transaction(work) {
      const client = await pool.connect().catch(rethrow);
      let broken = false;
      // The pool listens for the errors of idle clients only: a connection that breaks while this
      // transaction holds it, between two statements, would be an unhandled 'error' event and end
      // the process. Its next statement fails instead (and is translated); the client is discarded.
      const onError = () => {
        broken = true;
      };
      client.on('error', onError);
      try {
        await client.query('BEGIN').catch(rethrow);
        const value = await work(wrap(client));
        await client.query('COMMIT').catch(rethrow);
        return value;
      } catch (error) {
        try {
          await client.query('ROLLBACK');
        } catch {
          broken = true;
        }
        throw error;
      } finally {
        client.removeListener('error', onError);
        client.release(broken);
      }
    },
    exec: base.exec,
    listen: (channel, onPayload, hooks) => listener.listen(channel, onPayload, hooks),
    async ping() {
      try {
        await pool.query('SELECT 1');
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await listener.close();
      if (!pool.ended) await pool.end();
    },
  };
}
