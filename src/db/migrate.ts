import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import type { Database, Queryable } from './port.js';

const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);
// Any fixed 64-bit number: every process that migrates takes this transaction-scoped lock first.
const MIGRATION_LOCK_ID = 4_801_337_2025;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  /** SHA-256 (hex) of the file, line endings folded to LF: what the database records when it applies it. */
  checksum: string;
}

/** Where one migration stands in a database. */
export type MigrationState =
  /** Applied, and the file is what was applied. */
  | 'applied'
  /** In the files, not yet applied. */
  | 'pending'
  /** Applied, but the file has changed since: a landed migration was edited. */
  | 'changed'
  /** Applied, but no file has its version: the database was migrated by a newer release. */
  | 'unknown';

export interface MigrationStatus {
  version: number;
  name: string;
  state: MigrationState;
  appliedAt: Date | null;
}

/**
 * The database and the migration files disagree: a migration applied to it was edited since, or
 * it holds a migration this release does not have. Nothing is applied until that is resolved.
 */
export class MigrationMismatchError extends Error {
  constructor(readonly mismatches: readonly MigrationStatus[]) {
    const [first] = mismatches;
    const describe = (m: MigrationStatus) =>
      m.state === 'changed'
        ? `migration ${label(m)} was applied to this database, but its file has been edited since (a landed migration is never edited: restore the file and add a new migration)`
        : `the database has migration ${label(m)}, which this release does not have (it was migrated by a newer release: run that release, or restore a backup)`;
    super(
      mismatches.length === 1 && first
        ? `Refusing to migrate: ${describe(first)}.`
        : `Refusing to migrate: ${mismatches.map(describe).join('; ')}.`,
    );
    this.name = 'MigrationMismatchError';
  }
}

/** `0003_end_and_claim_task_functions`. */
export function label(migration: { version: number; name: string }): string {
  return `${String(migration.version).padStart(4, '0')}_${migration.name}`;
}

/** The checksum recorded for a migration's text; CRLF and LF checkouts of one file agree. */
export function migrationChecksum(sql: string): string {
  return createHash('sha256').update(sql.replace(/\r\n/g, '\n')).digest('hex');
}

/** The numbered migrations `NNNN_name.sql`, in order. Landed migrations are never edited. */
export async function loadMigrations(dir: URL = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((file) => /^\d{4}_.+\.sql$/.test(file)).sort();
  return Promise.all(
    files.map(async (file) => {
      const sql = await readFile(new URL(file, dir), 'utf8');
      return { version: Number(file.slice(0, 4)), name: file.slice(5, -4), sql, checksum: migrationChecksum(sql) };
    }),
  );
}

interface AppliedRow {
  version: number;
  name: string;
  checksum: string | null;
  applied_at: Date;
}

/** Each migration's state, from the files and what the database recorded; in version order. */
function compare(migrations: readonly Migration[], applied: readonly AppliedRow[]): MigrationStatus[] {
  const byVersion = new Map(applied.map((row) => [row.version, row]));
  const known = new Set(migrations.map((migration) => migration.version));
  const statuses: MigrationStatus[] = migrations.map((migration) => {
    const row = byVersion.get(migration.version);
    if (!row) return { version: migration.version, name: migration.name, state: 'pending', appliedAt: null };
    // A row applied before checksums were kept has none; `migrate` records the file's.
    const changed = row.checksum !== null && row.checksum !== migration.checksum;
    return { version: migration.version, name: migration.name, state: changed ? 'changed' : 'applied', appliedAt: new Date(row.applied_at) };
  });
  for (const row of applied) {
    if (!known.has(row.version)) statuses.push({ version: row.version, name: row.name, state: 'unknown', appliedAt: new Date(row.applied_at) });
  }
  return statuses.sort((a, b) => a.version - b.version);
}

async function appliedRows(db: Queryable): Promise<AppliedRow[]> {
  const { rows } = await db.query<AppliedRow>('SELECT version, name, checksum, applied_at FROM rivya_migrations ORDER BY version');
  return rows;
}

/**
 * Applies the pending migrations in one transaction, under an advisory lock, so any number of
 * processes may run it at once: one applies, the others wait and then find nothing to do.
 * Each applied migration's checksum is recorded; a database whose applied migrations differ from
 * the files (one edited after it landed, or one this release does not have) is refused with
 * `MigrationMismatchError` before anything is applied. Returns the versions it applied.
 */
export async function migrate(db: Database, migrations?: readonly Migration[]): Promise<number[]> {
  const files = migrations ?? (await loadMigrations());
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_ID]);
    await tx.exec(`CREATE TABLE IF NOT EXISTS rivya_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
      ALTER TABLE rivya_migrations ADD COLUMN IF NOT EXISTS checksum text`);
    const applied = await appliedRows(tx);
    const statuses = compare(files, applied);
    const mismatches = statuses.filter((status) => status.state === 'changed' || status.state === 'unknown');
    if (mismatches.length > 0) throw new MigrationMismatchError(mismatches);
    // Migrations applied before checksums were kept are trusted once, as the files are now.
    for (const migration of files) {
      const row = applied.find((candidate) => candidate.version === migration.version);
      if (row && row.checksum === null) {
        await tx.query('UPDATE rivya_migrations SET checksum = $2 WHERE version = $1', [migration.version, migration.checksum]);
      }
    }
    const done: number[] = [];
    for (const migration of files) {
      if (statuses.find((status) => status.version === migration.version)?.state !== 'pending') continue;
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO rivya_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
        migration.version, migration.name, migration.checksum,
      ]);
      done.push(migration.version);
    }
    return done;
  });
}

/** Every migration's state in this database, without changing it (an unmigrated database has them all pending). */
export async function migrationStatus(db: Queryable, migrations?: readonly Migration[]): Promise<MigrationStatus[]> {
  const files = migrations ?? (await loadMigrations());
  const { rows } = await db.query<{ present: boolean; has_checksum: boolean }>(
    `SELECT to_regclass('rivya_migrations') IS NOT NULL AS present,
            EXISTS (SELECT 1 FROM information_schema.columns
                     WHERE table_name = 'rivya_migrations' AND column_name = 'checksum' AND table_schema = current_schema()) AS has_checksum`,
  );
  if (!rows[0]?.present) return compare(files, []);
  const applied = rows[0].has_checksum
    ? await appliedRows(db)
    : (await db.query<AppliedRow>('SELECT version, name, NULL::text AS checksum, applied_at FROM rivya_migrations ORDER BY version')).rows;
  return compare(files, applied);
}
