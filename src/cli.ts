import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config.js';
import { DataDirLockedError } from './db/data-dir-lock.js';
import pino from 'pino';
import { migrate } from './db/migrate.js';
import { createPgBossQueue } from './jobs/pg-boss-queue.js';
import { TASK_QUEUE } from './worker/task-runner.js';
import { createPostgresDatabase } from './db/postgres-database.js';
import { bootstrapDevAccount, createRuntime } from './runtime.js';
import { admin } from './cli/admin-commands.js';
import { account, files, generate, models, tasks, type CliContext } from './cli/client-commands.js';
import { createOutput, describeFailure } from './cli/output.js';

const HELP = `rivya — Rivya Public API v1: the service, and a client for it

Usage:
  rivya serve [--role all|api|worker]   Run the service (default role: all = API + worker)
  rivya migrate                         Apply database migrations (safe from several processes at once)

  rivya generate "<prompt>" [options]   Make a video: upload, create, follow, download
  rivya tasks list|get|cancel           Tasks
  rivya files upload|list|delete        Reference files
  rivya models                          Models, prices, parameters
  rivya account [--ledger]              Credits and limits
  rivya admin ...                       Accounts, keys, credits (RIVYA_ADMIN_TOKEN)

  rivya <command> --help                Each command's options and examples

Client commands talk to RIVYA_BASE_URL (default http://localhost:$PORT, 8080) with RIVYA_API_KEY
(or --api-key; without either, the dev key \`rivya serve\` saved in RIVYA_DATA_DIR). --json prints
machine-readable results. Exit codes: 0 ok, 1 other failure, 2 bad input, 3 unauthorized, 4 insufficient credits,
5 not found, 6 conflict, 7 rate limited, 8 unreachable/unavailable, 9 task failed, 10 task canceled,
130 interrupted.

Environment (all optional on the embedded default):
  PORT (8080), HOST (0.0.0.0), RIVYA_PUBLIC_URL, RIVYA_DATA_DIR (./.rivya),
  RIVYA_ADMIN_TOKEN (enables /admin/v1), DATABASE_URL (PostgreSQL server), RIVYA_SECRET,
  RIVYA_FFMPEG_PATH, RIVYA_LOG_LEVEL (info), RIVYA_WORKER_CONCURRENCY (2),
  RIVYA_TASK_TIMEOUT_SECONDS (1800)

Examples:
  npx rivya serve
  RIVYA_ADMIN_TOKEN=secret PORT=9000 npx rivya serve
  DATABASE_URL=postgres://localhost/rivya RIVYA_SECRET=... npx rivya serve --role worker
  npx rivya generate "A paper boat on a rainy street" --out boat.mp4
`;

/** The process's streams and environment, for the client commands (tests pass their own). */
export interface CliIo {
  env: Readonly<Record<string, string | undefined>>;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

const CLIENT_COMMANDS: Record<string, (args: string[], context: CliContext) => Promise<number>> = {
  generate, tasks, files, models, account, admin,
};

async function runClientCommand(command: string, args: string[], io: CliIo): Promise<number> {
  const json = args.includes('--json');
  const output = createOutput(json, io.stdout, io.stderr);
  const context: CliContext = {
    env: io.env, output, stdin: io.stdin, stdout: io.stdout, stderr: io.stderr,
    onInterrupt(handler) {
      process.on('SIGINT', handler);
      return () => process.off('SIGINT', handler);
    },
  };
  try {
    return await CLIENT_COMMANDS[command]!(args, context);
  } catch (error) {
    const failure = describeFailure(error);
    if (json) io.stdout.write(`${JSON.stringify(failure.json, null, 2)}\n`);
    io.stderr.write(`rivya ${command}: ${failure.message}\n`);
    return failure.exitCode;
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

/** Runs the `rivya` command; resolves with the process exit code. */
export async function main(
  argv: string[],
  io: CliIo = { env: process.env, stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const [first, ...rest] = argv;
  if (first && Object.hasOwn(CLIENT_COMMANDS, first)) return runClientCommand(first, rest, io);
  const { values, positionals } = parseArgs({
    args: argv,
    options: { role: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: false,
  });
  const [command] = positionals;
  if (values.help || !command) {
    process.stdout.write(HELP);
    return command || values.help ? 0 : 2;
  }
  try {
    switch (command) {
      case 'serve':
        return await serve(typeof values.role === 'string' ? values.role : undefined);
      case 'migrate':
        return await migrateCommand();
      default:
        process.stderr.write(`Unknown command "${command}".\n\n${HELP}`);
        return 2;
    }
  } catch (error) {
    if (error instanceof ConfigError || error instanceof DataDirLockedError) {
      process.stderr.write(`rivya: ${error.message}\n`);
      return 78;
    }
    throw error;
  }
}
