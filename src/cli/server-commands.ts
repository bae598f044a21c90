import { consoleBundle } from '../pages/console/bundle.js';
import { access } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import pino from 'pino';
import { ConfigError, loadConfig } from '../config.js';
import { DataDirUnusableError, prepareDataDir } from '../data-dir.js';
import { DependencyUnavailableError } from '../errors.js';
import { DataDirLockedError, lockDataDir } from '../db/data-dir-lock.js';
import { label, loadMigrations, migrate, MigrationMismatchError, migrationStatus, type MigrationStatus } from '../db/migrate.js';
import { createPgliteDatabase } from '../db/pglite-database.js';
import type { Database } from '../db/port.js';
import { ListenError } from '../http/listen-error.js';
import { createPostgresDatabase } from '../db/postgres-database.js';
import { createPgBossQueue } from '../jobs/pg-boss-queue.js';
import { bootstrapDevAccount, createRuntime } from '../runtime.js';
import { TASK_QUEUE } from '../tasks/task-lifecycle.js';
import { recordServiceAddress } from './service-address-file.js';

export interface ServerCommandOptions {
  role?: string | undefined;
  /** `rivya migrate --status`: list applied and pending migrations, change nothing. */
  status?: boolean;
}

/**
 * Runs `rivya serve` or `rivya migrate`. A problem at start the operator fixes is reported on
 * stderr, without a stack, with exit code 78: the configuration's problems, or one line for a
 * port in use, a data dir another process holds or cannot write, or a database whose migrations
 * differ from this release's; a dependency out of reach (the database, Redis) is one line with
 * exit code 69.
 */
export async function runServerCommand(command: 'serve' | 'migrate', options: ServerCommandOptions = {}): Promise<number> {
  try {
    return command === 'serve' ? await serve(options.role) : await migrateCommand(options.status === true);
  } catch (error) {
    if (
      error instanceof ConfigError || error instanceof DataDirUnusableError || error instanceof DataDirLockedError ||
      error instanceof ListenError || error instanceof MigrationMismatchError
    ) {
      process.stderr.write(`rivya: ${error.message}\n`);
      return 78;
    }
    if (error instanceof DependencyUnavailableError) {
      process.stderr.write(`rivya: ${unreachable(error)}\n`);
      return 69;
    }
    throw error;
  }
}

/** A dependency out of reach at start, in one line: what it is, what failed, and the variable that points at it. */
function unreachable(error: DependencyUnavailableError): string {
  const storage = /^storage_(\w+)$/.exec(error.dependency)?.[1];
  const [what, variable] = error.dependency === 'database' ? ['database', 'DATABASE_URL']
    : error.dependency === 'rate_limiter' ? ['Redis server', 'REDIS_URL']
    : storage ? [`object store of the ${storage} target`, `RIVYA_${storage.toUpperCase()}_ENDPOINT`]
    : [error.dependency, null];
  const cause = error.cause instanceof Error && error.cause.message ? error.cause.message : 'no answer';
  return `The ${what} cannot be reached (${cause}): check that it runs${variable ? ` and that ${variable} points at it` : ''}.`;
}

/** Signals this soon after the first are taken as copies of it, not as a second request to stop. */
const REPEATED_SIGNAL_MS = 1000;

async function serve(role: string | undefined): Promise<number> {
  const config = loadConfig(process.env, { role });
  // The console's script is built by `npm ci`; a checkout or install without it gets it built now.
  if (config.role !== 'worker') await consoleBundle();
  const runtime = await createRuntime(config);
  const url = await runtime.start().catch(async (error: unknown) => {
    await runtime.stop();
    throw error;
  });
  // Only once the service listens: a start that failed leaves no account whose key was never shown.
  const dev = await bootstrapDevAccount(runtime);
  if (dev) {
    process.stdout.write(
      `\nCreated the "dev" account with 1000 credits.\nAPI key (shown once, also saved in ${dev.path}):\n\n  ${dev.key}\n\n`,
    );
  } else {
    const saved = await savedDevKey(config.dataDir);
    if (saved) process.stdout.write(`dev API key in ${saved}\n`);
  }
  // Client commands run next to this data dir find the service by this record.
  const address = url ? await recordServiceAddress(config.dataDir, url) : null;
  // The logger's base fields already name the service and its role.
  runtime.logger.info({ url, database: runtime.db.kind, providers: config.providers.accounts.map((account) => `${account.name} (${account.kind})`) }, 'rivya is running');
  process.stdout.write(`rivya is running: role ${config.role}${url ? ` at ${url}` : ''}, ${runtime.db.kind} database\n`);
  await new Promise<void>((resolve) => {
    let stoppingSince: number | null = null;
    const stop = (signal: string) => {
      if (stoppingSince !== null) {
        // The same Ctrl-C twice: under `npx`, npm passes the terminal's SIGINT on to the command,
        // which the terminal signalled too. A second signal after that ends the process at once.
        if (Date.now() - stoppingSince < REPEATED_SIGNAL_MS) return;
        runtime.logger.warn('second signal: exiting now');
        process.exit(1);
      }
      stoppingSince = Date.now();
      runtime.logger.info({ signal }, 'shutting down: finishing requests, leaving running tasks to resume');
      Promise.all([address?.remove(), runtime.stop()]).then(() => resolve(), (error: unknown) => {
        runtime.logger.error({ err: error }, 'error while shutting down');
        resolve();
      });
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
  return 0;
}

/** Where the data dir's dev key is saved (relative to here when under it), if it is. */
async function savedDevKey(dataDir: string): Promise<string | null> {
  const path = join(dataDir, 'dev-api-key');
  if (!(await access(path).then(() => true, () => false))) return null;
  const shown = relative(process.cwd(), path);
  return shown.startsWith('..') || isAbsolute(shown) ? path : shown;
}

/** Opens the configured database for `rivya migrate`: the server's, or the data dir's (locked while open). */
async function openDatabase(config: ReturnType<typeof loadConfig>): Promise<{ db: Database; close: () => Promise<void> }> {
  if (config.databaseUrl) {
    const db = await createPostgresDatabase({ connectionString: config.databaseUrl });
    return { db, close: () => db.close() };
  }
  await prepareDataDir(config.dataDir);
  const lock = await lockDataDir(config.dataDir);
  try {
    const db = await createPgliteDatabase({ dataDir: join(config.dataDir, 'pgdata') });
    const close = async () => {
      await db.close();
      await lock.release();
    };
    return { db, close };
  } catch (error) {
    await lock.release();
    throw error;
  }
}

const STATE_WORDS: Record<MigrationStatus['state'], string> = {
  applied: 'applied',
  pending: 'pending',
  changed: 'CHANGED since applied',
  unknown: 'UNKNOWN to this release',
};

/** `rivya migrate --status`: one line per migration; exit 0 when the database is up to date, 1 with pending ones, 78 on a mismatch. */
function printStatus(statuses: readonly MigrationStatus[], where: string): number {
  process.stdout.write(`Migrations of ${where}:\n`);
  for (const status of statuses) {
    const when = status.appliedAt ? `  ${status.appliedAt.toISOString()}` : '';
    process.stdout.write(`  ${label(status).padEnd(40)} ${STATE_WORDS[status.state]}${when}\n`);
  }
  const count = (state: MigrationStatus['state']) => statuses.filter((status) => status.state === state).length;
  const mismatched = count('changed') + count('unknown');
  if (mismatched > 0) {
    process.stdout.write(`${mismatched} migration(s) differ from this release: rivya refuses to start on this database.\n`);
    return 78;
  }
  const pending = count('pending');
  process.stdout.write(pending ? `${pending} pending: \`rivya migrate\` (or the next start) applies them.\n` : 'The database is up to date.\n');
  return pending ? 1 : 0;
}

/** True when the data dir holds an embedded database (PostgreSQL's data directory marker). */
async function hasEmbeddedDatabase(dataDir: string): Promise<boolean> {
  try {
    await access(join(dataDir, 'pgdata', 'PG_VERSION'));
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    // Not readable, or not a directory: opening it says what is wrong.
    if (code === 'ENOTDIR') throw new DataDirUnusableError(dataDir, error);
    return true;
  }
}

async function migrateCommand(statusOnly: boolean): Promise<number> {
  const config = loadConfig(process.env);
  const where = config.databaseUrl ? 'DATABASE_URL' : `the embedded database in ${config.dataDir}`;
  // --status changes nothing: where there is no embedded database (a mistyped RIVYA_DATA_DIR, the
  // wrong folder), it says so instead of creating one to look into.
  if (statusOnly && !config.databaseUrl && !(await hasEmbeddedDatabase(config.dataDir))) {
    const pending = (await loadMigrations()).map((m): MigrationStatus => ({ version: m.version, name: m.name, state: 'pending', appliedAt: null }));
    return printStatus(pending, `${config.dataDir} (no database yet: the first start, or \`rivya migrate\`, creates it)`);
  }
  const { db, close } = await openDatabase(config);
  try {
    if (statusOnly) return printStatus(await migrationStatus(db), where);
    const applied = await migrate(db);
    // The job queue's own schema too (pg-boss migrates under its own advisory lock).
    const queue = createPgBossQueue({ db, logger: pino({ level: 'warn' }), queues: [TASK_QUEUE] });
    await queue.start();
    await queue.stop(1000);
    process.stdout.write(applied.length ? `Applied migrations ${applied.map((version) => String(version).padStart(4, '0')).join(', ')} to ${where}.\n` : `${where}: up to date.\n`);
    return 0;
  } finally {
    await close();
  }
}
