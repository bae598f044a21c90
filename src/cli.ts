import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { admin } from './cli/admin-commands.js';
import { account, files, generate, models, tasks, type CliContext, type CliIo } from './cli/client-commands.js';
import { createOutput, describeFailure } from './cli/output.js';
import { keys } from './cli/key-commands.js';
import { webhooks } from './cli/webhook-commands.js';

const HELP = `rivya — Rivya Public API v1: the service, and a client for it

Usage:
  rivya serve [--role all|api|worker]   Run the service (default role: all = API + worker)
  rivya migrate [--status]              Apply database migrations (safe from several processes at once);
                                        --status lists applied and pending ones and changes nothing

  rivya generate "<prompt>" [options]   Make a video: upload, create, follow, download
  rivya tasks list|get|cancel           Tasks
  rivya files upload|list|delete        Reference files
  rivya models                          Models, prices, parameters
  rivya account [--ledger]              Credits and limits
  rivya keys list|create|revoke         This account's API keys
  rivya webhooks listen|list|create|... Webhook endpoints; forward live events to a local URL
  rivya admin ...                       Accounts, keys, credits (RIVYA_ADMIN_TOKEN)

  rivya <command> --help                Each command's options and examples (also: rivya help <command>)
  rivya --version                       The version

Client commands talk to RIVYA_BASE_URL or --base-url (default: the \`rivya serve\` running on
RIVYA_DATA_DIR, ./.rivya, else http://localhost:$PORT, 8080) with RIVYA_API_KEY or --api-key
(default: the dev key \`rivya serve\` saved in RIVYA_DATA_DIR). --json prints
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
  npx rivya webhooks listen --forward-to http://localhost:3000/hook
`;


const CLIENT_COMMANDS: Record<string, (args: string[], context: CliContext) => Promise<number>> = {
  generate, tasks, files, models, account, keys, webhooks, admin,
};

async function runClientCommand(command: string, args: string[], io: CliIo): Promise<number> {
  const json = args.includes('--json');
  const output = createOutput(json, io.stdout, io.stderr);
  const context: CliContext = {
    ...io,
    output,
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

/** Options every client command takes, and whether each takes a value. */
const GLOBAL_OPTIONS: Record<string, boolean> = { '--json': false, '--api-key': true, '--base-url': true, '--admin-token': true };

/** `rivya --json account` as `rivya account --json`: options every command takes may come before it. */
function commandFirst(argv: string[]): string[] {
  let index = 0;
  while (index < argv.length && Object.hasOwn(GLOBAL_OPTIONS, argv[index]!)) index += GLOBAL_OPTIONS[argv[index]!] ? 2 : 1;
  if (index === 0 || index >= argv.length || !Object.hasOwn(CLIENT_COMMANDS, argv[index]!)) return argv;
  return [argv[index]!, ...argv.slice(0, index), ...argv.slice(index + 1)];
}

/** Runs the `rivya` command; resolves with the process exit code. */
export async function main(
  argv: string[],
  io: CliIo = { env: process.env, stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const [first, ...rest] = commandFirst(argv);
  if (first && Object.hasOwn(CLIENT_COMMANDS, first)) return runClientCommand(first, rest, io);
  if (first === '--version' || first === '-v') {
    const { version } = createRequire(import.meta.url)('../package.json') as { version: string };
    io.stdout.write(`rivya ${version}\n`);
    return 0;
  }
  if (first === 'help') {
    // `rivya help tasks` = `rivya tasks --help`.
    const topic = rest[0];
    if (topic && Object.hasOwn(CLIENT_COMMANDS, topic)) return runClientCommand(topic, ['--help'], io);
    io.stdout.write(HELP);
    return 0;
  }
  const { values, positionals } = parseArgs({
    args: argv,
    options: { role: { type: 'string' }, status: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: false,
  });
  const [command] = positionals;
  if (values.help || !command) {
    process.stdout.write(HELP);
    return command || values.help ? 0 : 2;
  }
  if (command !== 'serve' && command !== 'migrate') {
    process.stderr.write(`Unknown command "${command}".\n\n${HELP}`);
    return 2;
  }
  // Loaded only here: the client commands start without the server's modules (database, queue, HTTP server).
  const { runServerCommand } = await import('./cli/server-commands.js');
  return runServerCommand(command, {
    role: typeof values.role === 'string' ? values.role : undefined,
    status: values.status === true,
  });
}
