import { createWriteStream } from 'node:fs';
import { constants } from 'node:fs';
import { access, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InvalidStateError, Rivya, TaskFailedError, type CreateTaskParams, type Page, type Task } from '../../packages/sdk/src/index.js';
import { AfterTaskCreated, describeFailure, EXIT, progressBar, table, UsageError, type Output } from './output.js';
import { recordedServiceUrl } from './service-address-file.js';

/** The process's streams and environment, for the client commands (tests pass their own). */
export interface CliIo {
  env: Readonly<Record<string, string | undefined>>;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

export interface CliContext extends CliIo {
  output: Output;
  /** Subscribes to Ctrl-C for the duration of a command; returns the unsubscribe. */
  onInterrupt(handler: () => void): () => void;
}

export const CLIENT_OPTIONS = {
  'api-key': { type: 'string' },
  'base-url': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

/** Parses a command's arguments strictly: an unknown flag is a usage error, not ignored. */
export function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O) {
  try {
    return parseArgs({ args, options: { ...CLIENT_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** The data dir of a `rivya serve` run here (RIVYA_DATA_DIR, default ./.rivya): its dev key and its address. */
function dataDirOf(env: CliContext['env']): string {
  return env['RIVYA_DATA_DIR'] || '.rivya';
}

/** The API client: key from --api-key, RIVYA_API_KEY, or the dev key `rivya serve` saved in the data dir. */
export async function clientFor(
  values: { 'api-key'?: string | undefined; 'base-url'?: string | undefined },
  env: CliContext['env'],
  /** Public routes (the catalog) need no key. */
  keyOptional = false,
): Promise<Rivya> {
  const baseUrl = await baseUrlOf(values, env);
  let apiKey = values['api-key'] ?? env['RIVYA_API_KEY'];
  if (!apiKey) {
    const saved = await readFile(join(dataDirOf(env), 'dev-api-key'), 'utf8').catch(() => '');
    apiKey = saved.trim() || undefined;
  }
  if (!apiKey && keyOptional) apiKey = 'none';
  if (!apiKey) throw new UsageError('No API key: pass --api-key, set RIVYA_API_KEY, or run `rivya serve` here first (it saves a dev key).');
  return new Rivya({ apiKey, baseUrl });
}

/**
 * --base-url, else RIVYA_BASE_URL, else the address the `rivya serve` running on this data dir
 * recorded, else this machine's default (`http://localhost:$PORT`, PORT 8080).
 */
export async function baseUrlOf(values: { 'base-url'?: string | undefined }, env: CliContext['env']): Promise<string> {
  if (values['base-url'] === undefined && !env['RIVYA_BASE_URL']) {
    const recorded = await recordedServiceUrl(dataDirOf(env));
    if (recorded) return recorded;
  }
  const [url, from] = values['base-url'] !== undefined ? [values['base-url'], '--base-url']
    : env['RIVYA_BASE_URL'] ? [env['RIVYA_BASE_URL'], 'RIVYA_BASE_URL']
    : [`http://localhost:${env['PORT'] ?? '8080'}`, 'PORT'];
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
    throw new UsageError(`${from} gives "${url}", which is not a service address like http://localhost:8080.`);
  }
  return url;
}

/** A file to upload, checked before anything is created or charged. */
async function readableFile(path: string, what: string): Promise<string> {
  const absolute = resolve(path);
  const info = await stat(absolute).catch(() => null);
  if (!info) throw new UsageError(`Cannot read ${what} ${path}: there is no such file.`);
  if (!info.isFile()) throw new UsageError(`Cannot read ${what} ${path}: it is not a file.`);
  await access(absolute, constants.R_OK).catch(() => {
    throw new UsageError(`Cannot read ${what} ${path}: permission denied.`);
  });
  return absolute;
}

/**
 * Where a video will be saved, checked before anything is created or charged: `--out` names a
 * new file, or an existing folder (the video goes in as `<task id>.mp4`); an existing file is
 * replaced only with `--force`. Without `--out`: `<task id>.mp4` here.
 */
async function plannedOutput(out: string | undefined, force: boolean | undefined): Promise<(taskId: string) => string> {
  const target = resolve(out ?? '.');
  const existing = await stat(target).catch(() => null);
  const intoFolder = out === undefined || out.endsWith('/') || Boolean(existing?.isDirectory());
  const folder = intoFolder ? target : dirname(target);
  const folderInfo = await stat(folder).catch(() => null);
  if (!folderInfo?.isDirectory()) throw new UsageError(`Cannot save into ${folder} (for --out): there is no such folder.`);
  await access(folder, constants.W_OK).catch(() => {
    throw new UsageError(`Cannot write into ${folder} (for --out).`);
  });
  if (intoFolder) return (taskId) => join(folder, `${taskId}.mp4`);
  if (existing && !force) throw new UsageError(`${out} already exists: pass --force to replace it, or choose another --out.`);
  return () => target;
}

/** `--limit` as a page size the API accepts (1–100). */
function pageSize(limit: string | undefined): number {
  if (limit === undefined) return 20;
  const size = Number(limit);
  if (!Number.isInteger(size) || size < 1 || size > 100) throw new UsageError(`--limit must be a whole number from 1 to 100, not "${limit}".`);
  return size;
}

/**
 * One page (`--limit`, `--cursor`) or every page (`--all`) of a list. With --json the result is
 * the API's own shape, `{data, has_more, next_cursor}`; people are told how to get the next page.
 */
export async function listed<T>(
  values: { all?: boolean | undefined; limit?: string | undefined; cursor?: string | undefined },
  fetchPage: (page: { limit: number; cursor?: string }) => PromiseLike<Page<T>> & AsyncIterable<T>,
): Promise<Page<T>> {
  if (values.all && (values.limit !== undefined || values.cursor !== undefined)) {
    throw new UsageError('--all fetches every page: give it without --limit and --cursor.');
  }
  if (values.all) {
    const data: T[] = [];
    for await (const item of fetchPage({ limit: 100 })) data.push(item);
    return { data, has_more: false, next_cursor: null };
  }
  return await fetchPage({ limit: pageSize(values.limit), ...(values.cursor ? { cursor: values.cursor } : {}) });
}

/** Prints a list page: a table for people (with how to get the next page), the page itself for --json. */
export function printPage<T>(context: CliContext, page: Page<T>, human: string, nextCommand: string): void {
  context.output.result(page, human);
  if (!context.output.json && page.has_more && page.next_cursor) context.output.note(`More: ${nextCommand} --cursor ${page.next_cursor}`);
}

function describeTask(task: Task): string {
  const lines = [
    `${task.id}  ${task.status}${task.status === 'running' ? ` ${task.progress}%` : ''}  ${task.model}`,
    `  prompt:  ${task.prompt.length > 70 ? `${task.prompt.slice(0, 67)}...` : task.prompt}`,
    `  credits: ${task.reserved_credits} reserved, ${task.final_credits} charged`,
  ];
  const media = task.result?.media[0];
  if (media) lines.push(`  video:   ${media.width}x${media.height}, ${media.durationSeconds}s, ${media.sizeBytes} bytes`, `  url:     ${media.url}`);
  if (task.error) lines.push(`  error:   ${task.error.code}: ${task.error.message}`);
  return lines.join('\n');
}

async function download(url: string, path: string, signal: AbortSignal): Promise<number> {
  const response = await fetch(url, { signal });
  if (!response.ok || !response.body) throw new Error(`Downloading the video failed: HTTP ${response.status}.`);
  const partial = `${path}.part`;
  const sink = createWriteStream(partial);
  try {
    await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), sink, { signal });
    await rename(partial, path);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  return sink.bytesWritten;
}

/** Saves a succeeded task's video to `path` (Ctrl-C stops the download); the result names the file. */
async function saveVideo(task: Task, path: string, context: CliContext): Promise<number> {
  const { output } = context;
  const media = task.result?.media[0];
  if (!media) throw new Error(`Task ${task.id} succeeded without a video.`);
  const downloading = new AbortController();
  const stopDownload = context.onInterrupt(() => downloading.abort(new Interrupted('download')));
  try {
    const bytes = await download(media.url, path, downloading.signal);
    output.result({ ...task, file: path }, `${describeTask(task)}\nSaved ${path} (${bytes} bytes).`);
    return EXIT.ok;
  } catch (error) {
    // The video stays available at its URL until it expires: say where, whatever went wrong.
    output.note(`The video of ${task.id} was not saved: ${error instanceof Error ? error.message : String(error)}\nIt can be fetched from ${media.url}`);
    if (downloading.signal.aborted) {
      if (output.json) output.result({ ...task, file: null, interrupted: true }, '');
      return EXIT.interrupted;
    }
    throw error;
  } finally {
    stopDownload();
  }
}

/**
 * Refuses, before a reference is uploaded, params the model does not have or values it does not
 * offer (the catalog comes from the service); the service checks everything again on create.
 */
async function checkParams(client: Rivya, model: string, params: Record<string, unknown>): Promise<void> {
  const found = await client.models.get(model);
  const problems = Object.entries(params).flatMap(([key, value]) => {
    const param = found.params.find((candidate) => candidate.key === key);
    if (!param) return [`${model} has no parameter ${key}.`];
    return param.options.includes(String(value)) ? [] : [`${key} must be one of ${param.options.join(', ')} for ${model}, not "${String(value)}".`];
  });
  if (problems.length) throw new UsageError(problems.join('\n'));
}

export const GENERATE_HELP = `rivya generate — make a video: upload the reference, create the task, follow it, download it

Usage:
  rivya generate "<prompt>" [options]

Options:
  --model <id>         sora-2 (default) or sora-2-pro
  --size <tier>        standard or high (sora-2-pro only)
  --frames <n>         duration in seconds: 10 (default) or 15
  --portrait           720x1280 (1024x1792 with --size high); --landscape is the default
  --no-watermark       remove the watermark
  --target <t>         where the result is stored: s3 (default) or oss
  --image <path>       a reference image (image-to-video)
  --out <file|folder>  where to save the video (default: <task id>.mp4 here; in a folder: <task id>.mp4 there)
  --force              replace the --out file if it exists (otherwise refused before anything is charged)
  --no-download        do not download; print the result URL
  --api-key, --base-url, --json, --help

Ctrl-C while it runs asks whether to cancel the task (its credits are then released).

Examples:
  rivya generate "A paper boat on a rainy street"
  rivya generate "Slow dolly over a desert" --model sora-2-pro --size high --frames 15 --portrait --out desert.mp4
  rivya generate "Make it move" --image ref.png --json
`;

class Interrupted extends Error {}

export async function generate(args: string[], context: CliContext): Promise<number> {
  const { values, positionals } = parse(args, {
    model: { type: 'string' }, size: { type: 'string' }, frames: { type: 'string' }, portrait: { type: 'boolean' },
    landscape: { type: 'boolean' }, 'no-watermark': { type: 'boolean' }, target: { type: 'string' }, image: { type: 'string' },
    out: { type: 'string' }, force: { type: 'boolean' }, 'no-download': { type: 'boolean' },
  });
  if (values.help) return help(context, GENERATE_HELP);
  const prompt = positionals.join(' ').trim();
  if (!prompt) throw new UsageError('Give a prompt: rivya generate "A paper boat on a rainy street"');
  if (values.portrait && values.landscape) throw new UsageError('Choose one of --portrait and --landscape.');
  const { output } = context;
  // Checked before anything is uploaded, created or charged: the reference is a readable file,
  // the video has somewhere to go, the params are the model's.
  const image = values.image ? await readableFile(values.image, 'the reference image') : undefined;
  const outputPath = values['no-download'] ? null : await plannedOutput(values.out, values.force);
  const client = await clientFor(values, context.env);
  const model = values.model ?? 'sora-2';
  const params: Record<string, unknown> = {};
  if (values.size) params['size'] = values.size;
  if (values.frames) params['n_frames'] = values.frames;
  if (values.portrait) params['aspect_ratio'] = 'portrait';
  if (values.landscape) params['aspect_ratio'] = 'landscape';
  if (values['no-watermark']) params['remove_watermark'] = 'true';
  if (values.target) params['upload_method'] = values.target;
  if (image) {
    await checkParams(client, model, params);
    if (!output.json) output.note(`Uploading ${values.image}...`);
    const file = await client.files.upload(image);
    params['referenceMediaItems'] = [{ file_id: file.id }];
  }
  // The server validates model and params against the catalog; its answer names what is wrong.
  const request = { model, prompt, params } as unknown as CreateTaskParams;
  const created = await client.tasks.create(request);
  try {
    const task = await follow(created, context, client, `Task ${created.id} created (${created.reserved_credits} credits held).`);
    if (typeof task === 'number') return task;
    if (task.status !== 'succeeded') throw new TaskFailedError(task);
    if (!outputPath) {
      output.result(task, describeTask(task));
      return EXIT.ok;
    }
    return await saveVideo(task, outputPath(task.id), context);
  } catch (error) {
    throw new AfterTaskCreated(error, created.id);
  }
}

/** Retries while following a task: about a minute of an unreachable service (a restart) is waited out. */
const FOLLOW_RETRIES = 12;

/**
 * Follows a task to its end with a live progress bar (status lines when not on a terminal).
 * Ctrl-C asks whether to cancel it; returns the ended task, or the exit code when the person
 * canceled it or left it running. `announcement` is written once Ctrl-C is handled, so a Ctrl-C
 * typed the moment it appears is asked about rather than ending the process.
 */
async function follow(created: Task, context: CliContext, client: Rivya, announcement: string): Promise<Task | number> {
  const { output } = context;
  const started = Date.now();
  const tty = Boolean(context.stderr.isTTY) && !output.json;
  const stop = new AbortController();
  /** Ends an open prompt when the task ends by itself. */
  const settled = new AbortController();
  let asking = false;
  let lastLine = '';
  const render = (task: Task) => {
    if (output.json || asking) return;
    const line = progressBar(task.status === 'succeeded' ? 100 : task.progress, task.status, (Date.now() - started) / 1000);
    if (tty) context.stderr.write(`\r${line}`);
    else if (task.status !== lastLine) output.note(`${task.status}${task.status === 'running' ? ` ${task.progress}%` : ''}`);
    lastLine = tty ? line : task.status;
  };
  const unsubscribe = context.onInterrupt(() => {
    // The question needs a person at a terminal, reading it and typing the answer: else Ctrl-C leaves the task running.
    if (asking || !context.stdin.isTTY || !context.stderr.isTTY) {
      stop.abort(new Interrupted('left running'));
      return;
    }
    asking = true;
    void (async () => {
      if (tty) context.stderr.write('\n');
      const prompter = createInterface({ input: context.stdin, output: context.stderr });
      // The prompt reads the terminal raw: a second Ctrl-C reaches it, not the process.
      prompter.on('SIGINT', () => stop.abort(new Interrupted('left running')));
      try {
        const answer = await prompter.question(`Cancel task ${created.id}? Its credits are released. [y/N] `, { signal: settled.signal });
        if (/^y(es)?$/i.test(answer.trim())) stop.abort(new Interrupted('cancel'));
      } catch {
        // Closed by a second Ctrl-C, or the task ended meanwhile.
      } finally {
        prompter.close();
        asking = false;
        if (tty) context.stderr.write('\n');
      }
    })();
  });

  try {
    if (!output.json) output.note(announcement);
    render(created);
    // The task's event stream moves the bar as the renderer reports progress; long-polls where there is no stream.
    const task = await client.tasks.wait(created.id, { stream: true, pollSeconds: 1, signal: stop.signal, onProgress: render, maxRetries: FOLLOW_RETRIES });
    if (tty) context.stderr.write('\n');
    return task;
  } catch (error) {
    if (!(stop.signal.reason instanceof Interrupted)) throw error;
    if (tty) context.stderr.write('\n');
    if (stop.signal.reason.message === 'cancel') {
      const canceled = await client.tasks.cancel(created.id, { maxRetries: FOLLOW_RETRIES }).catch(async (cancelError: unknown) => {
        // It ended just before the cancel: report how it ended instead.
        if (cancelError instanceof InvalidStateError) return client.tasks.get(created.id, { maxRetries: FOLLOW_RETRIES });
        throw cancelError;
      });
      if (canceled.status === 'canceled') {
        output.result(canceled, `Canceled ${created.id}; its credits were released.`);
        return EXIT.taskCanceled;
      }
      output.result(canceled, `Task ${created.id} had already ended: ${canceled.status}.`);
      return canceled.status === 'succeeded' ? EXIT.ok : EXIT.taskFailed;
    }
    output.result({ id: created.id, status: 'running', interrupted: true }, `Task ${created.id} keeps running. Follow it with: rivya tasks get ${created.id} --wait --out <file>`);
    return EXIT.interrupted;
  } finally {
    settled.abort();
    unsubscribe();
  }
}

export const TASKS_HELP = `rivya tasks — list, show, wait for and cancel tasks

Usage:
  rivya tasks list [--status <s>] [--model <id>] [--limit <n>] [--cursor <c>] [--all]
  rivya tasks get <id> [--wait] [--out <file|folder>] [--force]
  rivya tasks cancel <id>

--out saves the video of a succeeded task (with --wait, once it succeeds); --force replaces an existing file.

Examples:
  rivya tasks list --status running
  rivya tasks get task_... --wait --json
  rivya tasks get task_... --wait --out video.mp4
  rivya tasks cancel task_...
`;

export async function tasks(args: string[], context: CliContext): Promise<number> {
  const { values, positionals } = parse(args, {
    status: { type: 'string' }, model: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' }, all: { type: 'boolean' },
    wait: { type: 'boolean' }, out: { type: 'string' }, force: { type: 'boolean' },
  });
  const [action, id] = positionals;
  if (values.help || !action) return help(context, TASKS_HELP, values.help ? EXIT.ok : EXIT.usage);
  const { output } = context;
  switch (action) {
    case 'list': {
      const client = await clientFor(values, context.env);
      const filter = {
        ...(values.status ? { status: values.status as Task['status'] } : {}),
        ...(values.model ? { model: values.model as Task['model'] } : {}),
      };
      const page = await listed(values, (paging) => client.tasks.list({ ...filter, ...paging }));
      const rows = page.data.map((task) => [task.id, task.status, `${task.progress}%`, task.model, task.created_at, task.prompt.slice(0, 40)]);
      const filters = `${values.status ? ` --status ${values.status}` : ''}${values.model ? ` --model ${values.model}` : ''}${values.limit ? ` --limit ${values.limit}` : ''}`;
      printPage(context, page, page.data.length ? table([['ID', 'STATUS', 'PROGRESS', 'MODEL', 'CREATED', 'PROMPT'], ...rows]) : 'No tasks.', `rivya tasks list${filters}`);
      return EXIT.ok;
    }
    case 'get': {
      if (!id) throw new UsageError('Which task? rivya tasks get <id>');
      const outputPath = values.out === undefined ? null : await plannedOutput(values.out, values.force);
      const client = await clientFor(values, context.env);
      const task = values.wait ? await client.tasks.wait(id, { stream: true, maxRetries: FOLLOW_RETRIES }) : await client.tasks.get(id);
      if (outputPath && task.status === 'succeeded') return await saveVideo(task, outputPath(task.id), context);
      output.result(task, describeTask(task));
      if (outputPath) output.note(`Task ${task.id} is ${task.status}: there is no video to save${task.status === 'queued' || task.status === 'running' ? ' yet (add --wait)' : ''}.`);
      if (task.status === 'failed') return EXIT.taskFailed;
      if (task.status === 'canceled') return EXIT.taskCanceled;
      return outputPath && task.status !== 'succeeded' ? EXIT.failed : EXIT.ok;
    }
    case 'cancel': {
      if (!id) throw new UsageError('Which task? rivya tasks cancel <id>');
      const task = await (await clientFor(values, context.env)).tasks.cancel(id);
      output.result(task, `Canceled ${task.id}; its credits were released.`);
      return EXIT.ok;
    }
    default:
      throw new UsageError(`Unknown action "tasks ${action}": list, get or cancel.`);
  }
}

export const FILES_HELP = `rivya files — reference files

Usage:
  rivya files upload <path>
  rivya files list [--limit <n>] [--cursor <c>] [--all]
  rivya files delete <id>

Examples:
  rivya files upload ref.png --json
  rivya files list --all
  rivya files delete file_...
`;

export async function files(args: string[], context: CliContext): Promise<number> {
  const { values, positionals } = parse(args, { all: { type: 'boolean' }, limit: { type: 'string' }, cursor: { type: 'string' } });
  const [action, target] = positionals;
  if (values.help || !action) return help(context, FILES_HELP, values.help ? EXIT.ok : EXIT.usage);
  const { output } = context;
  switch (action) {
    case 'upload': {
      if (!target) throw new UsageError('Which file? rivya files upload <path>');
      const path = await readableFile(target, 'the file');
      const file = await (await clientFor(values, context.env)).files.upload(path);
      output.result(file, `${file.id}  ${file.kind}  ${file.mimeType}  ${file.sizeBytes} bytes\n  url: ${file.url}\n  expires: ${file.expires_at}`);
      return EXIT.ok;
    }
    case 'list': {
      const client = await clientFor(values, context.env);
      const page = await listed(values, (paging) => client.files.list(paging));
      const rows = page.data.map((file) => [file.id, file.kind, file.mimeType, String(file.sizeBytes), file.name]);
      printPage(context, page, page.data.length ? table([['ID', 'KIND', 'TYPE', 'BYTES', 'NAME'], ...rows]) : 'No files.', `rivya files list${values.limit ? ` --limit ${values.limit}` : ''}`);
      return EXIT.ok;
    }
    case 'delete': {
      if (!target) throw new UsageError('Which file? rivya files delete <id>');
      const deleted = await (await clientFor(values, context.env)).files.delete(target);
      output.result(deleted, `Deleted ${target}.`);
      return EXIT.ok;
    }
    default:
      throw new UsageError(`Unknown action "files ${action}": upload, list or delete.`);
  }
}

export const MODELS_HELP = `rivya models — the models, their prices and parameters (no key needed)

Usage:
  rivya models [--json]

Examples:
  rivya models
  rivya models --json --base-url https://api.example.com
`;

export async function models(args: string[], context: CliContext): Promise<number> {
  const { values } = parse(args, {});
  if (values.help) return help(context, MODELS_HELP);
  const client = await clientFor(values, context.env, true);
  const list = await client.models.list();
  const human = list
    .map((model) => `${model.id}  ${model.credits} credits\n${model.params.map((param) => `  ${param.key}: ${param.options.join(' | ')}${param.default ? ` (default ${param.default})` : ''}`).join('\n')}`)
    .join('\n\n');
  context.output.result(list, human);
  return EXIT.ok;
}

export const ACCOUNT_HELP = `rivya account — balance, holds, limits, and the credit ledger

Usage:
  rivya account [--ledger [--limit <n>] [--cursor <c>] [--all]]

Examples:
  rivya account
  rivya account --ledger --limit 50 --json
`;

export async function account(args: string[], context: CliContext): Promise<number> {
  const { values } = parse(args, { ledger: { type: 'boolean' }, limit: { type: 'string' }, cursor: { type: 'string' }, all: { type: 'boolean' } });
  if (values.help) return help(context, ACCOUNT_HELP);
  if (!values.ledger && (values.limit ?? values.cursor ?? values.all) !== undefined) throw new UsageError('--limit, --cursor and --all go with --ledger.');
  const client = await clientFor(values, context.env);
  if (values.ledger) {
    const page = await listed(values, (paging) => client.account.ledger(paging));
    const rows = page.data.map((entry) => [entry.created_at, entry.type, String(entry.amount), String(entry.balance_after), entry.task_id ?? '']);
    printPage(context, page, table([['WHEN', 'TYPE', 'AMOUNT', 'BALANCE', 'TASK'], ...rows]), `rivya account --ledger${values.limit ? ` --limit ${values.limit}` : ''}`);
    return EXIT.ok;
  }
  const info = await client.account.get();
  context.output.result(
    info,
    `${info.name} (${info.id})\n  credits: ${info.credits.balance} balance, ${info.credits.held} held, ${info.credits.available} available\n` +
      `  limits:  ${info.limits.creates_per_minute} creates/min, ${info.limits.requests_per_minute} requests/min, ${info.limits.active_tasks} active tasks`,
  );
  return EXIT.ok;
}

/**
 * Prints a command's help: on stdout when asked for; on stderr when the command line was
 * incomplete (exit 2), with the usage error as the one JSON document on stdout under --json.
 */
export function help(context: CliContext, text: string, exitCode: number = EXIT.ok): number {
  if (exitCode === EXIT.ok) {
    context.stdout.write(text);
    return exitCode;
  }
  context.stderr.write(text);
  if (context.output.json) context.output.result(describeFailure(new UsageError('The command is incomplete: see --help.')).json, '');
  return exitCode;
}
