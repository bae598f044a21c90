import pino from 'pino';
import { ConfigError, loadConfig } from '../config.js';
import { DataDirLockedError } from '../db/data-dir-lock.js';
import { migrate } from '../db/migrate.js';
import { createPostgresDatabase } from '../db/postgres-database.js';
import { createPgBossQueue } from '../jobs/pg-boss-queue.js';
import { bootstrapDevAccount, createRuntime } from '../runtime.js';
import { TASK_QUEUE } from '../worker/task-runner.js';

/** Runs `rivya serve` or `rivya migrate`; a configuration problem is one line on stderr and exit code 78. */
export async function runServerCommand(command: 'serve' | 'migrate', role: string | undefined): Promise<number> {
  try {
    return command === 'serve' ? await serve(role) : await migrateCommand();
  } catch (error) {
    if (error instanceof ConfigError || error instanceof DataDirLockedError) {
      process.stderr.write(`rivya: ${error.message}\n`);
      return 78;
    }
    throw error;
  }
}

async function serve(role: string | undefined): Promise<number> {
  const config = loadConfig(process.env, { role });
  const runtime = await createRuntime(config);
  const dev = await bootstrapDevAccount(runtime);
  const url = await runtime.start();
  if (dev) {
    process.stdout.write(
      `\nCreated the "dev" account with 1000 credits.\nAPI key (shown once, also saved in ${dev.path}):\n\n  ${dev.key}\n\n`,
    );
  }
  // The logger's base fields already name the service and its role.
  runtime.logger.info({ url, database: runtime.db.kind, providers: config.providers.accounts.map((account) => `${account.name} (${account.kind})`) }, 'rivya is running');
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
      runtime.stop().then(resolve, (error: unknown) => {
        runtime.logger.error({ err: error }, 'error while shutting down');
        resolve();
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  return 0;
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
