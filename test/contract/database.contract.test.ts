import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { createPostgresDatabase } from '../../src/db/postgres-database.js';
import { DependencyUnavailableError } from '../../src/errors.js';
import type { Database } from '../../src/db/port.js';
import { BACKENDS, POSTGRES_AVAILABLE } from '../helpers/backends.js';
import { freePort } from '../helpers/serve-process.js';

describe.each(BACKENDS)('Database port contract on $name', (backend) => {
  let db: Database;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    ({ db, drop } = await backend.create());
    await db.exec('CREATE TABLE items (id int PRIMARY KEY, n bigint NOT NULL CHECK (n >= 0), doc jsonb)');
  });
  afterAll(async () => {
    await db.close();
    await drop();
  });

  it('runs parameterized statements and returns rows, bigints as numbers, jsonb as objects', async () => {
    const inserted = await db.query('INSERT INTO items (id, n, doc) VALUES ($1, $2, $3::jsonb), ($4, $5, NULL)', [1, 5, JSON.stringify({ a: [1] }), 2, 7]);
    expect(inserted.rowCount).toBe(2);
    const { rows } = await db.query<{ id: number; n: number; doc: unknown }>('SELECT * FROM items ORDER BY id');
    expect(rows).toEqual([{ id: 1, n: 5, doc: { a: [1] } }, { id: 2, n: 7, doc: null }]);
    expect(typeof rows[0]?.n).toBe('number');
  });

  it('commits a transaction that resolves and rolls back one that throws', async () => {
    await db.transaction(async (tx) => {
      await tx.query('UPDATE items SET n = n + 1 WHERE id = 1');
    });
    await expect(
      db.transaction(async (tx) => {
        await tx.query('UPDATE items SET n = n + 100 WHERE id = 1');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await expect(db.transaction((tx) => tx.query('UPDATE items SET n = -1 WHERE id = 1'))).rejects.toThrow();
    const { rows } = await db.query<{ n: number }>('SELECT n FROM items WHERE id = 1');
    expect(rows[0]?.n).toBe(6);
  });

  it('serializes racing read-modify-write transactions with row locks', async () => {
    await Promise.all(
      Array.from({ length: 20 }, () =>
        db.transaction(async (tx) => {
          const { rows } = await tx.query<{ n: number }>('SELECT n FROM items WHERE id = 2 FOR UPDATE');
          await tx.query('UPDATE items SET n = $1 WHERE id = 2', [(rows[0]?.n ?? 0) + 1]);
        }),
      ),
    );
    const { rows } = await db.query<{ n: number }>('SELECT n FROM items WHERE id = 2');
    expect(rows[0]?.n).toBe(27);
  });

  it('runs multi-statement scripts and returns the last result', async () => {
    const result = await db.exec('CREATE TEMP TABLE t (x int); INSERT INTO t VALUES (1), (2); SELECT count(*)::int AS c FROM t');
    expect(result.rows).toEqual([{ c: 2 }]);
  });

  it('keeps a statement\'s own error (a syntax error, a violated constraint) as it is, not as an outage', async () => {
    for (const failing of [
      () => db.query('SELEC 1'),
      () => db.exec('SELEC 1'),
      () => db.transaction((tx) => tx.query('UPDATE items SET n = -1 WHERE id = 1')),
    ]) {
      const error = await failing().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(DependencyUnavailableError);
    }
  });

  it('throws DependencyUnavailableError once closed', async () => {
    const closing = await backend.create();
    await closing.db.close();
    try {
      const unavailable = { name: 'DependencyUnavailableError', dependency: 'database' };
      await expect(closing.db.query('SELECT 1')).rejects.toMatchObject(unavailable);
      await expect(closing.db.exec('SELECT 1')).rejects.toMatchObject(unavailable);
      await expect(closing.db.transaction((tx) => tx.query('SELECT 1'))).rejects.toMatchObject(unavailable);
      expect(await closing.db.ping()).toBe(false);
    } finally {
      await closing.drop();
    }
  });

  it('applies migrations once, even when several run at once', async () => {
    const runs = await Promise.all([migrate(db), migrate(db), migrate(db)]);
    expect(runs.filter((applied) => applied.length > 0)).toHaveLength(1);
    expect(await migrate(db)).toEqual([]);
    expect(await db.ping()).toBe(true);
  });
});

describe.runIf(POSTGRES_AVAILABLE)('PostgreSQL backend', () => {
  it('throws DependencyUnavailableError when the server cannot be reached', async () => {
    const db = await createPostgresDatabase({ connectionString: `postgres://postgres@127.0.0.1:${await freePort()}/test`, connectTimeoutMs: 1000 });
    try {
      const unavailable = { name: 'DependencyUnavailableError', dependency: 'database' };
      await expect(db.query('SELECT 1')).rejects.toMatchObject(unavailable);
      await expect(db.exec('SELECT 1')).rejects.toMatchObject(unavailable);
      await expect(db.transaction((tx) => tx.query('SELECT 1'))).rejects.toMatchObject(unavailable);
    } finally {
      await db.close();
    }
  });
});
