import { createWriteStream } from 'node:fs';
import { constants } from 'node:fs';
import { access, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InvalidStateError, Rivya, TaskFailedError, type CreateTaskParams, type Task } from '../../packages/sdk/src/index.js';
import { EXIT, progressBar, table, UsageError, type Output } from './output.js';

export interface CliContext {
  env: Readonly<Record<string, string | undefined>>;
  output: Output;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
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

/** The API client: key from --api-key, RIVYA_API_KEY, or the dev key `rivya serve` saved in the data dir. */
export async function clientFor(
  values: { 'api-key'?: string | undefined; 'base-url'?: string | undefined },
  env: CliContext['env'],
  /** Public routes (the catalog) need no key. */
  keyOptional = false,
): Promise<Rivya> {
  const baseUrl = baseUrlOf(values, env);
  let apiKey = values['api-key'] ?? env['RIVYA_API_KEY'];
  if (!apiKey) {
    const saved = await readFile(join(env['RIVYA_DATA_DIR'] || '.rivya', 'dev-api-key'), 'utf8').catch(() => '');
    apiKey = saved.trim() || undefined;
  }
  if (!apiKey && keyOptional) apiKey = 'none';
  if (!apiKey) throw new UsageError('No API key: pass --api-key, set RIVYA_API_KEY, or run `rivya serve` here first (it saves a dev key).');
  return new Rivya({ apiKey, baseUrl });
}

/** --base-url, else RIVYA_BASE_URL, else this machine's `rivya serve` (PORT, default 8080). */
export function baseUrlOf(values: { 'base-url'?: string | undefined }, env: CliContext['env']): string {
  return values['base-url'] ?? env['RIVYA_BASE_URL'] ?? `http://localhost:${env['PORT'] ?? '8080'}`;
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
  let bytes = 0;
  try {
    await pipeline(
      Readable.fromWeb(response.body as WebReadableStream<Uint8Array>).on('data', (chunk: Buffer) => (bytes += chunk.length)),
      createWriteStream(partial),
      { signal },
    );
    await rename(partial, path);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  return bytes;
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
  --out <file>         where to save the video (default: <task id>.mp4)
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
    out: { type: 'string' }, 'no-download': { type: 'boolean' },
  });
  if (values.help) return help(context, GENERATE_HELP);
  const prompt = positionals.join(' ').trim();
  if (!prompt) throw new UsageError('Give a prompt: rivya generate "A paper boat on a rainy street"');
  if (values.portrait && values.landscape) throw new UsageError('Choose one of --portrait and --landscape.');
  const { output } = context;
  // Checked before anything is created or charged: the reference is readable, the output writable.
  if (values.image) await access(resolve(values.image), constants.R_OK).catch(() => {
    throw new UsageError(`Cannot read the reference image ${values.image}.`);
  });
  const outDir = dirname(resolve(values.out ?? 'video.mp4'));
  if (!values['no-download']) await access(outDir, constants.W_OK).catch(() => {
    throw new UsageError(`Cannot write into ${outDir} (for --out).`);
  });
  const client = await clientFor(values, context.env);
  const params: Record<string, unknown> = {};
  if (values.size) params['size'] = values.size;
  if (values.frames) params['n_frames'] = values.frames;
  if (values.portrait) params['aspect_ratio'] = 'portrait';
  if (values.landscape) params['aspect_ratio'] = 'landscape';
  if (values['no-watermark']) params['remove_watermark'] = 'true';
  if (values.target) params['upload_method'] = values.target;
  if (values.image) {
    if (!output.json) output.note(`Uploading ${values.image}...`);
    const file = await client.files.upload(resolve(values.image));
    params['referenceMediaItems'] = [{ url: file.url, kind: file.kind, name: file.name, mimeType: file.mimeType }];
  }
  // The server validates model and params against the catalog; its answer names what is wrong.
  const request = { model: values.model ?? 'sora-2', prompt, params } as unknown as CreateTaskParams;
  const created = await client.tasks.create(request);
  const started = Date.now();
  const tty = Boolean(context.stderr.isTTY) && !output.json;
  if (!output.json) output.note(`Task ${created.id} created (${created.reserved_credits} credits held).`);

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
    if (asking) {
      stop.abort(new Interrupted('left running'));
      return;
    }
    if (!context.stdin.isTTY) {
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

  let task: Task;
  try {
    render(created);
    task = await client.tasks.wait(created.id, { pollSeconds: 1, signal: stop.signal, onProgress: render });
  } catch (error) {
    if (!(stop.signal.reason instanceof Interrupted)) throw error;
    if (tty) context.stderr.write('\n');
    if (stop.signal.reason.message === 'cancel') {
      const canceled = await client.tasks.cancel(created.id).catch(async (cancelError: unknown) => {
        // It ended just before the cancel: report how it ended instead.
        if (cancelError instanceof InvalidStateError) return client.tasks.get(created.id);
        throw cancelError;
      });
      if (canceled.status === 'canceled') {
        output.result(canceled, `Canceled ${created.id}; its credits were released.`);
        return EXIT.taskCanceled;
      }
      output.result(canceled, `Task ${created.id} had already ended: ${canceled.status}.`);
      return canceled.status === 'succeeded' ? EXIT.ok : EXIT.taskFailed;
    }
    output.result({ id: created.id, status: 'running', interrupted: true }, `Task ${created.id} keeps running. Follow it with: rivya tasks get ${created.id} --wait`);
    return EXIT.interrupted;
  } finally {
    settled.abort();
    unsubscribe();
  }
  if (tty) context.stderr.write('\n');
  if (task.status !== 'succeeded') throw new TaskFailedError(task);
  const media = task.result?.media[0];
  if (!media) throw new Error(`Task ${task.id} succeeded without a video.`);
  if (values['no-download']) {
    output.result(task, describeTask(task));
    return EXIT.ok;
  }
  const path = resolve(values.out ?? `${task.id}.mp4`);
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

export const TASKS_HELP = `rivya tasks — list, show, wait for and cancel tasks

Usage:
  rivya tasks list [--status <s>] [--model <id>] [--limit <n>] [--all]
  rivya tasks get <id> [--wait]
  rivya tasks cancel <id>

Examples:
  rivya tasks list --status running
  rivya tasks get task_... --wait --json
  rivya tasks cancel task_...
`;

export async function tasks(args: string[], context: CliContext): Promise<number> {
  const { values, positionals } = parse(args, {
    status: { type: 'string' }, model: { type: 'string' }, limit: { type: 'string' }, all: { type: 'boolean' }, wait: { type: 'boolean' },
  });
  const [action, id] = positionals;
  if (values.help || !action) return help(context, TASKS_HELP, values.help ? EXIT.ok : EXIT.usage);
  const client = await clientFor(values, context.env);
  const { output } = context;
  switch (action) {
    case 'list': {
      const filter = {
        limit: values.limit ? Number(values.limit) : 20,
        ...(values.status ? { status: values.status as Task['status'] } : {}),
        ...(values.model ? { model: values.model as Task['model'] } : {}),
      };
      const found: Task[] = [];
      if (values.all) for await (const task of client.tasks.list({ ...filter, limit: 100 })) found.push(task);
      else found.push(...(await client.tasks.list(filter)).data);
      const rows = found.map((task) => [task.id, task.status, `${task.progress}%`, task.model, task.created_at, task.prompt.slice(0, 40)]);
      output.result(found, found.length ? table([['ID', 'STATUS', 'PROGRESS', 'MODEL', 'CREATED', 'PROMPT'], ...rows]) : 'No tasks.');
      return EXIT.ok;
    }
    case 'get': {
      if (!id) throw new UsageError('Which task? rivya tasks get <id>');
      const task = values.wait ? await client.tasks.wait(id) : await client.tasks.get(id);
      output.result(task, describeTask(task));
      return task.status === 'failed' ? EXIT.taskFailed : task.status === 'canceled' ? EXIT.taskCanceled : EXIT.ok;
    }
    case 'cancel': {
      if (!id) throw new UsageError('Which task? rivya tasks cancel <id>');
      const task = await client.tasks.cancel(id);
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
  rivya files list [--all]
  rivya files delete <id>

Examples:
  rivya files upload ref.png --json
  rivya files delete file_...
`;

export async function files(args: string[], context: CliContext): Promise<number> {
  const { values, positionals } = parse(args, { all: { type: 'boolean' }, limit: { type: 'string' } });
  const [action, target] = positionals;
  if (values.help || !action) return help(context, FILES_HELP, values.help ? EXIT.ok : EXIT.usage);
  const client = await clientFor(values, context.env);
  const { output } = context;
  switch (action) {
    case 'upload': {
      if (!target) throw new UsageError('Which file? rivya files upload <path>');
      const file = await client.files.upload(resolve(target));
      output.result(file, `${file.id}  ${file.kind}  ${file.mimeType}  ${file.sizeBytes} bytes\n  url: ${file.url}\n  expires: ${file.expires_at}`);
      return EXIT.ok;
    }
    case 'list': {
      const found = [];
      if (values.all) for await (const file of client.files.list({ limit: 100 })) found.push(file);
      else found.push(...(await client.files.list({ limit: values.limit ? Number(values.limit) : 20 })).data);
      const rows = found.map((file) => [file.id, file.kind, file.mimeType, String(file.sizeBytes), file.name]);
      output.result(found, found.length ? table([['ID', 'KIND', 'TYPE', 'BYTES', 'NAME'], ...rows]) : 'No files.');
      return EXIT.ok;
    }
    case 'delete': {
      if (!target) throw new UsageError('Which file? rivya files delete <id>');
      const deleted = await client.files.delete(target);
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
  rivya account [--ledger] [--limit <n>]

Examples:
  rivya account
  rivya account --ledger --limit 50 --json
`;

export async function account(args: string[], context: CliContext): Promise<number> {
  const { values } = parse(args, { ledger: { type: 'boolean' }, limit: { type: 'string' } });
  if (values.help) return help(context, ACCOUNT_HELP);
  const client = await clientFor(values, context.env);
  if (values.ledger) {
    const page = await client.account.ledger({ limit: values.limit ? Number(values.limit) : 20 });
    const rows = page.data.map((entry) => [entry.created_at, entry.type, String(entry.amount), String(entry.balance_after), entry.task_id ?? '']);
    context.output.result(page.data, table([['WHEN', 'TYPE', 'AMOUNT', 'BALANCE', 'TASK'], ...rows]));
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

export function help(context: CliContext, text: string, exitCode: number = EXIT.ok): number {
  (exitCode === EXIT.ok ? context.stdout : context.stderr).write(text);
  return exitCode;
}
