import { access } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import pino from 'pino';
import { ConfigError, loadConfig } from '../config.js';
import { DataDirLockedError } from '../db/data-dir-lock.js';
import { migrate } from '../db/migrate.js';
import { ListenError } from '../http/listen-error.js';
import { createPostgresDatabase } from '../db/postgres-database.js';
import { createPgBossQueue } from '../jobs/pg-boss-queue.js';
import { bootstrapDevAccount, createRuntime } from '../runtime.js';
import { TASK_QUEUE } from '../worker/task-runner.js';
import { recordServiceAddress } from './service-address-file.js';

/**
 * Runs `rivya serve` or `rivya migrate`. A problem at start the operator fixes is reported on
 * stderr, without a stack, with exit code 78: the configuration's problems, or one line for a
 * port in use or a data dir another process holds.
 */
export async function runServerCommand(command: 'serve' | 'migrate', role: string | undefined): Promise<number> {
  try {
    return command === 'serve' ? await serve(role) : await migrateCommand();
  } catch (error) {
    if (error instanceof ConfigError || error instanceof DataDirLockedError || error instanceof ListenError) {
      process.stderr.write(`rivya: ${error.message}\n`);
      return 78;
    }
    throw error;
  }
}

async function serve(role: string | undefined): Promise<number> {
  const config = loadConfig(process.env, { role });
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
  runtime.logger.info({ url, role: config.role, database: runtime.db.kind, providers: config.providers.accounts.map((account) => `${account.name} (${account.kind})`) }, 'rivya is running');
  process.stdout.write(`rivya is running: role ${config.role}${url ? ` at ${url}` : ''}, ${runtime.db.kind} database\n`);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        runtime.logger.warn('second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      runtime.logger.info({ signal }, 'shutting down: finishing requests, leaving running tasks to resume');
      Promise.all([address?.remove(), runtime.stop()]).then(() => resolve(), (error: unknown) => {
        runtime.logger.error({ err: error }, 'error while shutting down');
        resolve();
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
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

async function migrateCommand(): Promise<number> {
  const config = loadConfig(process.env);
  if (!config.databaseUrl) {
    process.stdout.write('The embedded database migrates itself at start; `rivya migrate` is for DATABASE_URL.\n');
    return 0;
  }
  const db = await createPostgresDatabase({ connectionString: config.databaseUrl });
  try {
    const applied = await migrate(db);
    // The job queue's own schema too (pg-boss migrates under its own advisory lock).
    const queue = createPgBossQueue({ db, logger: pino({ level: 'warn' }), queues: [TASK_QUEUE] });
    await queue.start();
    await queue.stop(1000);
    process.stdout.write(applied.length ? `Applied migrations ${applied.join(', ')}.\n` : 'The database is up to date.\n');
    return 0;
  } finally {
    await db.close();
  }
}
