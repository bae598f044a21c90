import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';

/** The data directory cannot be made, or this process may not write in it. */
export class DataDirUnusableError extends Error {
  constructor(dataDir: string, cause: unknown) {
    const reason = (cause as NodeJS.ErrnoException).code ?? 'unusable';
    super(
      `The data directory ${dataDir} cannot be made or written by this process (${reason}): ` +
        'give this user write access to it, or set RIVYA_DATA_DIR to a directory it may write.',
      { cause },
    );
    this.name = 'DataDirUnusableError';
  }
}

/**
 * Makes the data directory (`RIVYA_DATA_DIR`: embedded database, objects, secret, dev key) if it
 * is missing, and checks this process may write in it, before anything is put there: a start
 * fails in one line naming it rather than with a file system error from deep inside.
 */
export async function prepareDataDir(dataDir: string): Promise<void> {
  try {
    await mkdir(dataDir, { recursive: true });
    await access(dataDir, constants.W_OK | constants.X_OK);
  } catch (error) {
    throw new DataDirUnusableError(dataDir, error);
  }
}
