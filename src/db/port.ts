/**
 * The `Database` port: the subset of PostgreSQL the domain needs. Backends: embedded PGlite
 * (`pglite-database.ts`) and a PostgreSQL server (`postgres-database.ts`). Both speak the
 * same SQL and run the same migrations. Like pg-boss's storage port, it also carries the one
 * thing a statement cannot do: `listen` for NOTIFY.
 */

export interface QueryResult<Row> {
  rows: Row[];
  rowCount: number;
}

/** Something that runs one parameterized SQL statement: the database itself, or an open transaction. */
export interface Queryable {
  /** Runs one statement with `$1…` parameters. */
  query: <Row = Record<string, unknown>>(text: string, params?: readonly unknown[]) => Promise<QueryResult<Row>>;
}

/** An open transaction: parameterized statements, plus scripts for migrations. */
export interface Transaction extends Queryable {
  /** Runs a script of several statements without parameters; returns the last statement's result. */
  exec: (script: string) => Promise<QueryResult<Record<string, unknown>>>;
}

/** What a listener is told of its connection (see `Database.listen`). */
export interface ListenHooks {
  /** The connection was lost: notifications may be missed from now until `onReconnect`. */
  onLost?: () => void;
  /** Listening again after a loss: what was sent in between is gone. */
  onReconnect?: () => void;
}

export interface Database extends Queryable {
  /** Which backend this is, for capability gates and logs. */
  readonly kind: 'pglite' | 'postgres';
  /**
   * Runs `work` in one READ COMMITTED transaction: committed if it resolves, rolled back if it
   * throws (the error is rethrown). Statements inside must go through the given `tx`.
   */
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T>;
  /** Runs a script of several statements without parameters; returns the last statement's result. */
  exec: (script: string) => Promise<QueryResult<Record<string, unknown>>>;
  /**
   * Calls `onPayload` with the payload of every NOTIFY on `channel` from a transaction that
   * committed, in this process or any other on the same database, in commit order; never for one
   * that rolled back. Resolves once listening (rejects if the store cannot be reached then).
   * When the listening connection is lost it calls `onLost` at once, reconnects by itself,
   * retrying every second, and calls `onReconnect` once it listens again: notifications sent
   * meanwhile are lost, so re-read whatever they would have announced, and trust nothing kept from
   * them in between. Resolves with the function that stops listening.
   */
  listen(channel: string, onPayload: (payload: string) => void, hooks?: ListenHooks): Promise<() => Promise<void>>;
  /** True when the store answers a trivial query. */
  ping(): Promise<boolean>;
  /** Closes connections; afterwards every call fails. */
  close(): Promise<void>;
}
