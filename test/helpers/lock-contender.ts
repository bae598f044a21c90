/**
 * A process contending for data dir locks, for the lock's tests: at the instant given (ms since
 * the epoch), it tries to take the lock of each directory given, prints `GOT <dir>` for each one
 * it got, then holds them until its stdin ends.
 *
 *   node bin/run-ts.js test/helpers/lock-contender.ts <start-ms> <dir>...
 */
import { DataDirLockedError, lockDataDir } from '../../src/db/data-dir-lock.js';

const [start, ...dirs] = process.argv.slice(2);
await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(start) - Date.now())));
await Promise.all(dirs.map(async (dir) => {
  try {
    await lockDataDir(dir);
    process.stdout.write(`GOT ${dir}\n`);
  } catch (error) {
    if (!(error instanceof DataDirLockedError)) throw error;
  }
}));
process.stdout.write('DONE\n');
process.stdin.resume();
await new Promise((resolve) => process.stdin.once('end', resolve));
