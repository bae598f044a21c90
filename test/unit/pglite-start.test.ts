import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { initPgliteDataDir } from '../../src/db/pglite-initdb.js';
import { createPgliteDatabase } from '../../src/db/pglite-database.js';

describe('starting the embedded database', () => {
  let root: string;
  let dataDir: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'rivya-pglite-start-'));
    dataDir = join(root, 'pgdata');
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('creates a database in a child process, renamed into place with nothing left beside it', async () => {
    await initPgliteDataDir(dataDir);
    expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(true);
    expect(await readdir(root)).toEqual(['pgdata']);
    expect(await readFile(join(dataDir, 'postgresql.conf'), 'utf8')).toMatch(/^shared_buffers = 16MB/m);

    // A second start finds the database and leaves it as it is.
    const before = (await stat(join(dataDir, 'PG_VERSION'))).mtimeMs;
    await initPgliteDataDir(dataDir);
    expect((await stat(join(dataDir, 'PG_VERSION'))).mtimeMs).toBe(before);
  });

  it('takes an empty directory, refuses one with files but no database, and touches nothing in it', async () => {
    await mkdir(dataDir);
    await initPgliteDataDir(dataDir);
    expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(true);

    const other = join(root, 'other');
    await mkdir(other);
    await writeFile(join(other, 'notes.txt'), 'mine');
    await expect(initPgliteDataDir(other)).rejects.toThrow(`${other} is not empty but holds no database`);
    expect(await readdir(other)).toEqual(['notes.txt']);
  });

  it("removes what a first start killed half way left beside the data dir, not a live one's", async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    await mkdir(join(root, `pgdata.initdb-${dead}`));
    await writeFile(join(root, `pgdata.initdb-${dead}`, 'PG_VERSION'), '18\n');
    const live = join(root, `pgdata.initdb-${process.ppid}`);
    await mkdir(live);
    await initPgliteDataDir(dataDir);
    expect((await readdir(root)).sort()).toEqual(['pgdata', `pgdata.initdb-${process.ppid}`]);
  });

  it('runs with the light settings on a data dir whose postgresql.conf says otherwise (made by an older version)', async () => {
    await initPgliteDataDir(dataDir);
    const conf = join(dataDir, 'postgresql.conf');
    await writeFile(conf, (await readFile(conf, 'utf8')).replace(/^shared_buffers = .*$/m, 'shared_buffers = 128MB'));
    const db = await createPgliteDatabase({ dataDir });
    try {
      const { rows } = await db.query<{ shared_buffers: string; maintenance_work_mem: string }>(
        `SELECT current_setting('shared_buffers') AS shared_buffers, current_setting('maintenance_work_mem') AS maintenance_work_mem`,
      );
      expect(rows).toEqual([{ shared_buffers: '16MB', maintenance_work_mem: '16MB' }]);
    } finally {
      await db.close();
    }
  });
});
