import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadMigrations, migrate, MigrationMismatchError, migrationStatus, type Migration } from '../../src/db/migrate.js';
import type { Database } from '../../src/db/port.js';
import { BACKENDS } from '../helpers/backends.js';

/** A copy of the release's migrations with one file's text changed, as if it were edited after landing. */
function edited(migrations: readonly Migration[], version: number): Migration[] {
  return migrations.map((migration) =>
    migration.version === version ? { ...migration, sql: `${migration.sql}\n-- edited`, checksum: 'edited' } : migration,
  );
}

const extra: Migration = { version: 9000, name: 'extra', sql: 'CREATE TABLE extra_table (id int)', checksum: 'c'.repeat(64) };

describe.each(BACKENDS)('Migrations on $name', (backend) => {
  let db: Database;
  let drop: () => Promise<void>;
  let release: Migration[];

  beforeEach(async () => {
    ({ db, drop } = await backend.create());
    release = await loadMigrations();
  });
  afterEach(async () => {
    await db.close();
    await drop();
  });

  const recorded = async () =>
    (await db.query<{ version: number; checksum: string | null }>('SELECT version, checksum FROM rivya_migrations ORDER BY version')).rows;

  it('records each applied migration with the checksum of its file, and lists them as applied', async () => {
    expect(await migrationStatus(db)).toEqual(release.map((m) => ({ version: m.version, name: m.name, state: 'pending', appliedAt: null })));
    expect(await migrate(db)).toEqual(release.map((m) => m.version));
    expect(await recorded()).toEqual(release.map((m) => ({ version: m.version, checksum: m.checksum })));
    const statuses = await migrationStatus(db);
    expect(statuses.map((s) => s.state)).toEqual(release.map(() => 'applied'));
    expect(statuses.every((s) => s.appliedAt instanceof Date)).toBe(true);
  });

  it('lists a new migration as pending, and applies only it', async () => {
    await migrate(db);
    const next = [...release, extra];
    expect((await migrationStatus(db, next)).at(-1)).toMatchObject({ version: 9000, name: 'extra', state: 'pending', appliedAt: null });
    expect(await migrate(db, next)).toEqual([9000]);
    expect((await migrationStatus(db, next)).at(-1)?.state).toBe('applied');
  });

  it('refuses a database whose applied migration was edited since, naming it, and applies nothing', async () => {
    await migrate(db);
    const tampered = [...edited(release, 3), extra];
    const refusal = await migrate(db, tampered).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(MigrationMismatchError);
    expect((refusal as Error).message).toMatch(/migration 0003_end_and_claim_task_functions was applied to this database, but its file has been edited/);
    expect((await migrationStatus(db, tampered)).find((s) => s.version === 3)?.state).toBe('changed');
    // The pending migration of the same release was not applied.
    expect((await db.query(`SELECT to_regclass('extra_table') IS NULL AS absent`)).rows[0]).toEqual({ absent: true });
    expect(await migrate(db)).toEqual([]);
  });

  it('refuses a database migrated by a newer release', async () => {
    await migrate(db, [...release, extra]);
    const refusal = await migrate(db).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(MigrationMismatchError);
    expect((refusal as Error).message).toMatch(/the database has migration 9000_extra, which this release does not have/);
    expect((await migrationStatus(db)).at(-1)).toMatchObject({ version: 9000, state: 'unknown' });
  });

  it('adopts the checksums of a database migrated before they were recorded, then holds it to them', async () => {
    // What the previous release left: the table without a checksum column.
    await db.exec('CREATE TABLE rivya_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    for (const migration of release) {
      await db.exec(migration.sql);
      await db.query('INSERT INTO rivya_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
    }
    expect((await migrationStatus(db)).map((s) => s.state)).toEqual(release.map(() => 'applied'));
    expect(await migrate(db)).toEqual([]);
    expect(await recorded()).toEqual(release.map((m) => ({ version: m.version, checksum: m.checksum })));
    await expect(migrate(db, edited(release, 1))).rejects.toThrow(/migration 0001_init was applied/);
  });
});
