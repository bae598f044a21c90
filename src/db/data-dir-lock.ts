import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { isProcessAlive } from '../process-alive.js';

/** Thrown when another live process holds the data directory. */
export class DataDirLockedError extends Error {
  constructor(dataDir: string, pid: number) {
    super(
      `The data directory ${dataDir} is in use by another Rivya process (pid ${pid}). ` +
        'The embedded database can be opened by one process at a time: stop that process, ' +
        'or set RIVYA_DATA_DIR to another directory, or use DATABASE_URL for several processes.',
    );
    this.name = 'DataDirLockedError';
  }
}

export interface DataDirLock {
  release(): Promise<void>;
}


/**
 * Takes the exclusive lock of an embedded data directory: a lock file holding this process's
 * pid, created with O_EXCL. A lock left by a process that died (even by `kill -9`) is stale and
 * taken over; a lock of a live process on this host refuses with `DataDirLockedError`.
 */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  await mkdir(dataDir, { recursive: true });
  const path = join(dataDir, 'rivya.lock');
  const owner = `${process.pid}@${hostname()}`;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const handle = await open(path, 'wx');
      await handle.writeFile(owner);
      await handle.close();
      return {
        async release() {
          const current = await readFile(path, 'utf8').catch(() => '');
          if (current === owner) await unlink(path).catch(() => {});
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const content = await readFile(path, 'utf8').catch(() => '');
    const [pidText, host] = content.split('@');
    const pid = Number(pidText);
    if (Number.isInteger(pid) && pid > 0 && host === hostname() && pid !== process.pid && isProcessAlive(pid)) {
      throw new DataDirLockedError(dataDir, pid);
    }
    // Stale: move it aside atomically; of two racing processes only one rename succeeds.
    await rename(path, `${path}.stale-${process.pid}`)
      .then(() => unlink(`${path}.stale-${process.pid}`))
      .catch(() => {});
  }
  throw new Error(`Could not take the lock of ${dataDir}; remove ${path} if no Rivya process is running.`);
}
