import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { createPostgresDatabase } from '../../src/db/postgres-database.js';
import { DependencyUnavailableError } from '../../src/errors.js';
import type { Database } from '../../src/db/port.js';
import { BACKENDS, createServerDatabase, POSTGRES_AVAILABLE } from '../helpers/backends.js';
import { freePort } from '../helpers/serve-process.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait-for.js';

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

  it('hears NOTIFY from committed transactions only, in commit order, until it stops listening', async () => {
    const heard: string[] = [];
    const unlisten = await db.listen('contract_channel', (payload) => heard.push(payload));
    await db.transaction((tx) => tx.query("SELECT pg_notify('contract_channel', 'first')"));
    await expect(db.transaction(async (tx) => {
      await tx.query("SELECT pg_notify('contract_channel', 'rolled back')");
      throw new Error('roll back');
    })).rejects.toThrow('roll back');
    await db.transaction(async (tx) => {
      await tx.query("SELECT pg_notify('contract_channel', 'second')");
      await tx.query("SELECT pg_notify('other_channel', 'elsewhere')");
    });
    await db.query("SELECT pg_notify('contract_channel', 'third')");
    await waitFor(() => heard.length >= 3, 5000, 'the notifications');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(heard).toEqual(['first', 'second', 'third']);
    await unlisten();
    await db.query("SELECT pg_notify('contract_channel', 'unheard')");
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(heard).toEqual(['first', 'second', 'third']);
  });

  it('applies migrations once, even when several run at once', async () => {
    const runs = await Promise.all([migrate(db), migrate(db), migrate(db)]);
    expect(runs.filter((applied) => applied.length > 0)).toHaveLength(1);
    expect(await migrate(db)).toEqual([]);
    expect(await db.ping()).toBe(true);
  });
});

describe.runIf(POSTGRES_AVAILABLE)('PostgreSQL backend', () => {
  it('hears NOTIFY sent by another process, is told when its connection is cut, and listens again by itself', async () => {
    const server = await createServerDatabase();
    const url = new URL(server.url);
    // A throwaway proxy to the shared server: cutting it drops this test's connections only.
    const proxy = await startTcpProxy(Number(url.port || 5432));
    url.port = String(proxy.port);
    const listening = await createPostgresDatabase({ connectionString: url.toString(), connectTimeoutMs: 1000 });
    const sender = await createPostgresDatabase({ connectionString: server.url });
    const heard: string[] = [];
    let reconnects = 0;
    let losses = 0;
    try {
      await listening.listen('cut_channel', (payload) => heard.push(payload), { onLost: () => losses++, onReconnect: () => reconnects++ });
      await sender.query("SELECT pg_notify('cut_channel', 'before')");
      await waitFor(() => heard.includes('before'), 5000, 'the first notification');
      expect(losses).toBe(0);
      await proxy.down();
      // Told at once, before it is back: whatever was kept from notifications is no longer sure.
      await waitFor(() => losses === 1, 5000, 'the listener to be told of the loss');
      expect(reconnects).toBe(0);
      await sender.query("SELECT pg_notify('cut_channel', 'while cut')");
      await new Promise((resolve) => setTimeout(resolve, 300));
      await proxy.up();
      await waitFor(() => reconnects === 1, 10_000, 'the listener to reconnect');
      expect(losses).toBe(1);
      await sender.query("SELECT pg_notify('cut_channel', 'after')");
      await waitFor(() => heard.includes('after'), 5000, 'a notification after the reconnect');
      expect(heard).toEqual(['before', 'after']);
    } finally {
      await listening.close();
      await sender.close();
      await proxy.close();
      await server.drop();
    }
  });

  it('is told when its connection goes silent without closing, and listens again by itself', async () => {
    const server = await createServerDatabase();
    const url = new URL(server.url);
    const proxy = await startTcpProxy(Number(url.port || 5432));
    url.port = String(proxy.port);
    const listening = await createPostgresDatabase({ connectionString: url.toString(), connectTimeoutMs: 1000, listenCheckMs: 200 });
    const sender = await createPostgresDatabase({ connectionString: server.url });
    const heard: string[] = [];
    let reconnects = 0;
    let losses = 0;
    try {
      await listening.listen('silent_channel', (payload) => heard.push(payload), { onLost: () => losses++, onReconnect: () => reconnects++ });
      // Nothing comes through, and nothing says so (a peer gone without a FIN or a reset): only asking finds it out.
      proxy.freeze();
      await sender.query("SELECT pg_notify('silent_channel', 'unheard')");
      await waitFor(() => losses === 1, 5000, 'the listener to be told of the loss');
      await waitFor(() => reconnects === 1, 5000, 'the listener to reconnect');
      await sender.query("SELECT pg_notify('silent_channel', 'after')");
      await waitFor(() => heard.includes('after'), 5000, 'a notification after the reconnect');
      expect(heard).toEqual(['after']);
    } finally {
      await listening.close();
      await sender.close();
      await proxy.close();
      await server.drop();
    }
  });

  it('refuses to listen when the server cannot be reached', async () => {
    const db = await createPostgresDatabase({ connectionString: `postgres://postgres@127.0.0.1:${await freePort()}/test`, connectTimeoutMs: 1000 });
    try {
      await expect(db.listen('nowhere', () => {})).rejects.toMatchObject({ name: 'DependencyUnavailableError', dependency: 'database' });
    } finally {
      await db.close();
    }
  });

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

  it('survives the connection breaking between a transaction\'s statements: the transaction fails as unavailable, the process goes on', async () => {
    const server = await createServerDatabase();
    const url = new URL(server.url);
    // A throwaway proxy to the shared server: cutting it drops this test's connections only.
    const proxy = await startTcpProxy(Number(url.port || 5432));
    url.port = String(proxy.port);
    const db = await createPostgresDatabase({ connectionString: url.toString(), connectTimeoutMs: 1000 });
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      let cut!: () => void;
      const between = new Promise<void>((resolve) => (cut = resolve));
      const transaction = db.transaction(async (tx) => {
        await tx.query('SELECT 1');
        // The connection breaks while the transaction does its own work between two statements.
        cut();
        await new Promise((resolve) => setTimeout(resolve, 300));
        await tx.query('SELECT 2');
      });
      await between;
      await proxy.down();
      await expect(transaction).rejects.toMatchObject({ name: 'DependencyUnavailableError', dependency: 'database' });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(uncaught).toEqual([]);
      await proxy.up();
      // The broken connection was not given back to the pool: the next transaction works.
      expect(await db.transaction(async (tx) => (await tx.query<{ n: number }>('SELECT 1 AS n')).rows)).toEqual([{ n: 1 }]);
    } finally {
      process.off('uncaughtException', onUncaught);
      await db.close();
      await proxy.close();
      await server.drop();
    }
  });
});
