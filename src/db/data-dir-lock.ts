import { mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
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

/** A lock file still empty this long after it was made was left by a process that died making it. */
const UNWRITTEN_LOCK_MS = 10_000;
/** A takeover left by a process that died while breaking a stale lock (a few milliseconds' work) is this old. */
const ABANDONED_TAKEOVER_MS = 10_000;
/** How long a start waits for a lock being taken or broken by another process to settle. */
const SETTLE_MS = 15_000;

/** Creates `path` holding `content` if it does not exist (O_EXCL); false when it exists. */
async function createExclusive(path: string, content: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    await handle.writeFile(content);
  } finally {
    await handle.close();
  }
  return true;
}

/** How long ago `path` was last written (0 if it is gone). */
async function ageOf(path: string): Promise<number> {
  return stat(path).then((info) => Date.now() - info.mtimeMs, () => 0);
}

/**
 * Removes the lock at `path` if it still holds `stale`. Processes break a stale lock one at a
 * time, under a second lock (`.takeover`): without it, one could remove the lock another has
 * just taken in the stale one's place, and both would open the database.
 */
async function breakStaleLock(path: string, stale: string): Promise<void> {
  const takeover = `${path}.takeover`;
  if (!(await createExclusive(takeover, `${process.pid}@${hostname()}`))) {
    if ((await ageOf(takeover)) > ABANDONED_TAKEOVER_MS) await unlink(takeover).catch(() => {});
    await sleep(20);
    return;
  }
  try {
    if ((await readFile(path, 'utf8').catch(() => null)) === stale) await unlink(path).catch(() => {});
  } finally {
    await unlink(takeover).catch(() => {});
  }
}

/**
 * Takes the exclusive lock of an embedded data directory: a lock file holding this process's
 * `pid@host`, created with O_EXCL. A lock left by a process that died (even by `kill -9`) is
 * stale and taken over, by one process only when several start at once; a lock of a live
 * process on this host refuses with `DataDirLockedError`.
 */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  await mkdir(dataDir, { recursive: true });
  const path = join(dataDir, 'rivya.lock');
  const owner = `${process.pid}@${hostname()}`;
  for (const deadline = Date.now() + SETTLE_MS; Date.now() < deadline;) {
    if (await createExclusive(path, owner)) {
      return {
        async release() {
          const current = await readFile(path, 'utf8').catch(() => '');
          if (current === owner) await unlink(path).catch(() => {});
        },
      };
    }
    const content = await readFile(path, 'utf8').catch(() => null);
    // Released meanwhile: try again.
    if (content === null) continue;
    const [pidText, host] = content.split('@');
    const pid = Number(pidText);
    if (!Number.isInteger(pid) || pid <= 0 || host === undefined) {
      // Made but not yet written by the process taking it (or left so by one that died doing that).
      if ((await ageOf(path)) < UNWRITTEN_LOCK_MS) {
        await sleep(20);
        continue;
      }
    } else if (host === hostname() && pid !== process.pid && isProcessAlive(pid)) {
      throw new DataDirLockedError(dataDir, pid);
    }
    await breakStaleLock(path, content);
  }
  throw new Error(`Could not take the lock of ${dataDir}; remove ${path} if no Rivya process is running.`);
}
