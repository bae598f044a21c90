import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgliteDatabase } from '../../src/db/pglite-database.js';

const BIN = fileURLToPath(new URL('../../bin/rivya.js', import.meta.url));

/** Runs the `rivya` binary as a user would; resolves with its exit code and output, whatever the code. */
async function rivya(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('rivya migrate on the embedded database', () => {
  let dataDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'rivya-migrate-'));
    env = { RIVYA_DATA_DIR: dataDir, PORT: '0' };
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('lists pending migrations, applies them, then lists them as applied', async () => {
    const before = await rivya(['migrate', '--status'], env);
    expect(before.code).toBe(1);
    expect(before.stdout).toMatch(/0001_init\s+pending/);
    expect(before.stdout).toMatch(/pending: `rivya migrate` \(or the next start\) applies them/);
    // --status changes nothing: no database is created where there is none (a mistyped RIVYA_DATA_DIR, the wrong folder).
    expect(before.stdout).toContain('no database yet');
    expect(await readdir(dataDir)).toEqual([]);
    const elsewhere = join(dataDir, 'not-there');
    expect((await rivya(['migrate', '--status'], { ...env, RIVYA_DATA_DIR: elsewhere })).code).toBe(1);
    await expect(readdir(elsewhere)).rejects.toMatchObject({ code: 'ENOENT' });

    const applied = await rivya(['migrate'], env);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/Applied migrations 0001, 0002, 0003, 0004, 0005, 0006, 0007/);

    const after = await rivya(['migrate', '--status'], env);
    expect(after.code).toBe(0);
    expect(after.stdout).toMatch(/0007_event_log\s+applied\s+\d{4}-\d\d-\d\dT/);
    expect(after.stdout).toContain('The database is up to date.');
  });

  it('refuses to start on a database whose applied migration differs from its file, in one line naming it', async () => {
    // As if 0003 had been edited after this database applied it.
    const db = await createPgliteDatabase({ dataDir: join(dataDir, 'pgdata') });
    await db.query(`UPDATE rivya_migrations SET checksum = 'an-older-text' WHERE version = 3`);
    await db.close();

    const status = await rivya(['migrate', '--status'], env);
    expect(status.code).toBe(78);
    expect(status.stdout).toMatch(/0003_end_and_claim_task_functions\s+CHANGED since applied/);

    const serve = await rivya(['serve'], env);
    expect(serve.code).toBe(78);
    expect(serve.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^rivya: Refusing to migrate: migration 0003_end_and_claim_task_functions was applied to this database, but its file has been edited since/),
    ]);
    expect(serve.stdout).not.toContain('rivya is running');
  });
});
