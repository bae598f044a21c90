import { readdir, readFile } from 'node:fs/promises';
import type { Database } from './port.js';

const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);
// Any fixed 64-bit number: every process that migrates takes this transaction-scoped lock first.
const MIGRATION_LOCK_ID = 4_801_337_2025;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The numbered migrations `NNNN_name.sql`, in order. Landed migrations are never edited. */
export async function loadMigrations(): Promise<Migration[]> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((file) => /^\d{4}_.+\.sql$/.test(file)).sort();
  return Promise.all(
    files.map(async (file) => ({
      version: Number(file.slice(0, 4)),
      name: file.slice(5, -4),
      sql: await readFile(new URL(file, MIGRATIONS_DIR), 'utf8'),
    })),
  );
}

/**
 * Applies the pending migrations in one transaction, under an advisory lock, so any number of
 * processes may run it at once: one applies, the others wait and then find nothing to do.
 * Returns the versions it applied.
 */
export async function migrate(db: Database): Promise<number[]> {
  const migrations = await loadMigrations();
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_ID]);
    await tx.exec(`CREATE TABLE IF NOT EXISTS rivya_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await tx.query<{ version: number }>('SELECT version FROM rivya_migrations');
    const applied = new Set(rows.map((row) => row.version));
    const done: number[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.version)) continue;
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO rivya_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
      done.push(migration.version);
    }
    return done;
  });
}
