import { spawn } from 'node:child_process';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { ffmpegPath, makeMedia } from '../helpers/media.js';
import { runRivya as rivya } from '../helpers/serve-process.js';
import { ADMIN_TOKEN, startTestService, type TestService } from '../helpers/test-service.js';
import { waitFor } from '../helpers/wait-for.js';

const BIN = fileURLToPath(new URL('../../bin/rivya.js', import.meta.url));

/**
 * Runs `rivya <args>` in a pseudo-terminal (util-linux `script`), to drive it as a person at a terminal: the
 * installed binary (`node bin/rivya.js`), or through `npx rivya` (`cwd` must then be the repository).
 */
function rivyaInTerminal(args: string[], env: Record<string, string>, cwd: string, redirect = '', launcher: 'binary' | 'npx' = 'binary') {
  const command = launcher === 'npx' ? ['npx', 'rivya', ...args] : [process.execPath, BIN, ...args];
  const quoted = command.map((part) => `'${part.replace(/'/g, `'\\''`)}'`).join(' ') + (redirect ? ` ${redirect}` : '');
  // Without the variables `npm test` gives its scripts: a nested npx acts as one typed at a shell.
  const shellEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(npm_|INIT_CWD$)/i.test(name)));
  // `script` runs the command through $SHELL; `exec` makes the CLI the terminal's only foreground process, whatever
  // the shell (dash would otherwise stay as its parent and die of the Ctrl-C, taking `script` with it).
  const child = spawn('script', ['-qefc', `exec ${quoted}`, '/dev/null'], { env: { ...shellEnv, ...env }, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  child.stdout.on('data', (chunk: Buffer) => (screen += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (screen += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { screen: () => screen, type: (text: string) => child.stdin.write(text), exited };
}

async function probe(path: string): Promise<string> {
  const result = await promisify(execFile)(ffmpegPath, ['-hide_banner', '-i', path]).catch((error: { stderr: string }) => error);
  return result.stderr;
}

describe('the rivya CLI', () => {
  let service: TestService;
  let idle: TestService;
  let env: Record<string, string>;
  let idleEnv: Record<string, string>;
  let dir: string;

  beforeAll(async () => {
    // Real renders (with progress) on one service; a service without workers, where tasks wait, on the other.
    [service, idle] = await Promise.all([
      startTestService(BACKENDS[0]!, { listen: true, env: { RIVYA_PROVIDER: 'local' }, captureLogs: 'info' }),
      startTestService(BACKENDS[0]!, { listen: true, worker: false }),
    ]);
    env = { RIVYA_BASE_URL: service.runtime.config.publicUrl, RIVYA_API_KEY: (await service.newAccount(1000)).key };
    idleEnv = { RIVYA_BASE_URL: idle.runtime.config.publicUrl, RIVYA_API_KEY: (await idle.newAccount(1000)).key };
    dir = await mkdtemp(join(tmpdir(), 'rivya-cli-'));
  });
  afterAll(async () => {
    await Promise.all([service?.close(), idle?.close()]);
  });

  it('generates in a terminal with a live progress bar fed by the task\'s event stream, then saves the video', async () => {
    const image = await makeMedia(join(dir, 'ref.png'), 'image');
    const logged = service.logs.length;
    const run = rivyaInTerminal(
      ['generate', 'A paper boat on a rainy street', '--model', 'sora-2-pro', '--size', 'high', '--frames', '10', '--portrait', '--image', image, '--out', 'boat.mp4'],
      env,
      dir,
    );
    expect(await run.exited, run.screen()).toBe(0);
    const screen = run.screen();
    expect(screen).toMatch(/Uploading .*ref\.png/);
    // The bar is redrawn in place (carriage returns) as the render progresses, ending at 100%.
    const bars = screen.match(/\r\[[█░]{24}\]\s+\d+% \w+/g) ?? [];
    expect(bars.length).toBeGreaterThan(2);
    expect(new Set(bars.map((bar) => /(\d+)%/.exec(bar)?.[1])).size).toBeGreaterThan(2);
    expect(bars.at(-1)).toMatch(/100% succeeded/);
    // It followed the task over its event stream, not by long-polling.
    await waitFor(() => service.logs.slice(logged).some((line) => line.includes('"route":"/api/v1/tasks/:id/events"')), 5000, 'the stream to be logged');
    const requests = service.logs.slice(logged).map((line) => JSON.parse(line) as { msg?: string; route?: string; status?: number; wait_s?: number }).filter((line) => line.msg === 'request');
    expect(requests.filter((line) => line.route === '/api/v1/tasks/:id/events').map((line) => line.status)).toEqual([200]);
    expect(requests.filter((line) => line.wait_s !== undefined)).toEqual([]);
    expect(screen).toMatch(/Saved .*boat\.mp4/);
    expect((await stat(join(dir, 'boat.mp4'))).size).toBeGreaterThan(10_000);
    expect(await probe(join(dir, 'boat.mp4'))).toMatch(/Video: h264.* 1024x1792/);
  }, 120_000);

  it('asks on Ctrl-C whether to cancel, and cancels (credits released, exit 10)', async () => {
    const run = rivyaInTerminal(['generate', 'Never rendered'], idleEnv, dir);
    await waitFor(() => /Task (task_\w+) created/.test(run.screen()), 30_000, 'the task to be created');
    const taskId = /Task (task_\w+) created/.exec(run.screen())![1]!;
    run.type('\x03');
    await waitFor(() => run.screen().includes(`Cancel task ${taskId}?`), 10_000, 'the question');
    run.type('y\r');
    expect(await run.exited).toBe(10);
    expect(run.screen()).toContain(`Canceled ${taskId}`);
    const after = await rivya(['tasks', 'get', taskId, '--json'], idleEnv);
    expect(JSON.parse(after.stdout)).toMatchObject({ status: 'canceled', final_credits: 0 });
  }, 60_000);

  it('on Ctrl-C answered "no", keeps following the task', async () => {
    const run = rivyaInTerminal(['generate', 'Still waiting', '--no-download'], idleEnv, dir);
    await waitFor(() => /Task (task_\w+) created/.test(run.screen()), 30_000, 'the task to be created');
    const taskId = /Task (task_\w+) created/.exec(run.screen())![1]!;
    run.type('\x03');
    await waitFor(() => run.screen().includes('[y/N]'), 10_000, 'the question');
    run.type('n\r');
    // Still running: cancel it from elsewhere, and the CLI reports it.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await rivya(['tasks', 'cancel', taskId], idleEnv)).code).toBe(0);
    expect(await run.exited).toBe(10);
  }, 60_000);

  it('leaves the task running on Ctrl-C when its question could not be seen (stderr not a terminal)', async () => {
    const before = JSON.parse((await rivya(['tasks', 'list', '--all', '--json'], idleEnv)).stdout) as { data: { id: string }[] };
    const run = rivyaInTerminal(['generate', 'Unseen question'], idleEnv, dir, '2>/dev/null');
    let created: { id: string; status: string } | undefined;
    await waitFor(async () => {
      const now = JSON.parse((await rivya(['tasks', 'list', '--all', '--json'], idleEnv)).stdout) as { data: { id: string; status: string }[] };
      created = now.data.find((task) => !before.data.some((old) => old.id === task.id));
      return created !== undefined;
    }, 30_000, 'the task to be created');
    await new Promise((resolve) => setTimeout(resolve, 500));
    run.type('\x03');
    expect(await run.exited).toBe(130);
    expect(JSON.parse((await rivya(['tasks', 'get', created!.id, '--json'], idleEnv)).stdout)).toMatchObject({ status: 'queued' });
    expect((await rivya(['tasks', 'cancel', created!.id], idleEnv)).code).toBe(0);
  }, 60_000);

  it('leaves the task running on a second Ctrl-C at the question (exit 130)', async () => {
    const run = rivyaInTerminal(['generate', 'Left running'], idleEnv, dir);
    await waitFor(() => /Task (task_\w+) created/.test(run.screen()), 30_000, 'the task to be created');
    const taskId = /Task (task_\w+) created/.exec(run.screen())![1]!;
    run.type('\x03');
    await waitFor(() => run.screen().includes('[y/N]'), 10_000, 'the question');
    run.type('\x03');
    expect(await run.exited).toBe(130);
    expect(run.screen()).toContain(`rivya tasks get ${taskId} --wait`);
    expect(JSON.parse((await rivya(['tasks', 'get', taskId, '--json'], idleEnv)).stdout)).toMatchObject({ status: 'queued' });
    expect((await rivya(['tasks', 'cancel', taskId], idleEnv)).code).toBe(0);
  }, 60_000);

  it('under npx, exit codes pass through (Ctrl-C is another matter: the README says to run the installed binary)', async () => {
    // npm and the shell it runs the command in get a Ctrl-C too, and how they end then depends on
    // that shell (dash or bash) and npm's signal forwarding, not on rivya: that is why the README
    // points interactive use at the installed binary. Without a Ctrl-C, npx passes the code on.
    const repository = fileURLToPath(new URL('../..', import.meta.url));
    const missing = rivyaInTerminal(['tasks', 'get', 'task_missing'], idleEnv, repository, '', 'npx');
    expect(await missing.exited).toBe(5);
    const models = rivyaInTerminal(['models'], idleEnv, repository, '', 'npx');
    expect(await models.exited).toBe(0);
    expect(models.screen()).toContain('sora-2-pro');
  }, 60_000);

  it('checks inputs before anything is charged, and fails cleanly on local errors', async () => {
    const before = JSON.parse((await rivya(['account', '--json'], env)).stdout) as { credits: { balance: number; held: number } };
    const noImage = await rivya(['generate', 'x', '--image', join(dir, 'missing.png')], env);
    expect(noImage.code).toBe(2);
    expect(noImage.stderr).toMatch(/Cannot read the reference image/);
    const noDir = await rivya(['generate', 'x', '--out', join(dir, 'no', 'such', 'dir', 'v.mp4')], env);
    expect(noDir.code).toBe(2);
    const folderAsImage = await rivya(['generate', 'x', '--image', dir], env);
    expect(folderAsImage.code).toBe(2);
    expect(folderAsImage.stderr).toMatch(/it is not a file/);
    // An existing file is not replaced without --force; a param the model lacks is refused before the upload.
    await writeFile(join(dir, 'precious.txt'), 'keep me');
    const existing = await rivya(['generate', 'x', '--out', join(dir, 'precious.txt')], env);
    expect(existing.code).toBe(2);
    expect(existing.stderr).toMatch(/already exists: pass --force/);
    expect(await readFile(join(dir, 'precious.txt'), 'utf8')).toBe('keep me');
    const filesBefore = (await rivya(['files', 'list', '--json'], env)).stdout;
    const wrongParam = await rivya(['generate', 'x', '--size', 'high', '--image', await makeMedia(join(dir, 'unused.png'), 'image')], env);
    expect(wrongParam.code).toBe(2);
    expect(wrongParam.stderr).toMatch(/sora-2 has no parameter size/);
    expect((await rivya(['files', 'list', '--json'], env)).stdout).toBe(filesBefore);
    const after = JSON.parse((await rivya(['account', '--json'], env)).stdout) as { credits: { balance: number; held: number } };
    expect(after.credits).toEqual(before.credits);

    const upload = await rivya(['files', 'upload', join(dir, 'missing.png'), '--json'], env);
    expect(upload.code).toBe(2);
    expect(upload.stderr).not.toMatch(/\n\s+at /);
    expect(JSON.parse(upload.stdout)).toMatchObject({ error: { code: 'usage', message: expect.stringMatching(/missing\.png: there is no such file/) } });
    expect((await rivya(['toString'], env)).code).toBe(2);
    expect((await rivya(['tasks', 'list', '--limit', 'abc'], env)).code).toBe(2);
    expect((await rivya(['account', '--base-url', '127.0.0.1:8080'], env)).stderr).toMatch(/not a service address/);
    // Incomplete commands still print one JSON document with --json.
    const incomplete = await rivya(['tasks', '--json'], env);
    expect(incomplete.code).toBe(2);
    expect(JSON.parse(incomplete.stdout)).toMatchObject({ error: { code: 'usage' } });
  }, 60_000);

  it('saves into a folder, replaces a file only with --force, and saves a task it did not create', async () => {
    const into = join(dir, 'videos');
    await mkdir(into);
    const generated = await rivya(['generate', 'A kite', '--out', `${into}/`, '--json'], env);
    expect(generated.code, generated.stderr).toBe(0);
    const task = JSON.parse(generated.stdout) as { id: string; file: string };
    expect(task.file).toBe(join(into, `${task.id}.mp4`));
    expect((await stat(task.file)).size).toBeGreaterThan(10_000);

    await writeFile(join(dir, 'old.mp4'), 'old');
    const saved = await rivya(['tasks', 'get', task.id, '--wait', '--out', join(dir, 'old.mp4'), '--force'], env);
    expect(saved.code, saved.stderr).toBe(0);
    expect(saved.stdout).toMatch(/Saved .*old\.mp4/);
    expect(await probe(join(dir, 'old.mp4'))).toMatch(/1280x720/);
  }, 60_000);

  it('pages lists: JSON as the API shapes them, people told how to get more; options before the command', async () => {
    const page = JSON.parse((await rivya(['--json', 'tasks', 'list', '--limit', '1'], env)).stdout) as { data: unknown[]; has_more: boolean; next_cursor: string };
    expect(page.data).toHaveLength(1);
    expect(page.has_more).toBe(true);
    const human = await rivya(['tasks', 'list', '--limit', '1'], env);
    expect(human.stderr).toContain(`More: rivya tasks list --limit 1 --cursor ${page.next_cursor}`);
    const next = JSON.parse((await rivya(['tasks', 'list', '--limit', '1', '--cursor', page.next_cursor, '--json'], env)).stdout) as { data: { id: string }[] };
    expect(next.data[0]!.id).not.toBe((page.data[0] as { id: string }).id);
    const all = JSON.parse((await rivya(['tasks', 'list', '--all', '--json'], env)).stdout) as { data: unknown[]; has_more: boolean };
    expect(all.has_more).toBe(false);
    expect(all.data.length).toBeGreaterThan(1);
    expect((await rivya(['tasks', 'list', '--all', '--limit', '2'], env)).code).toBe(2);
    expect((await rivya(['--version'], {})).stdout).toMatch(/^rivya \d+\.\d+\.\d+/);
  }, 60_000);

  it('prints JSON for scripts, and exit codes from the error codes', async () => {
    const generated = await rivya(['generate', 'A heron', '--json', '--out', join(dir, 'heron.mp4')], env);
    expect(generated.code, generated.stderr).toBe(0);
    const result = JSON.parse(generated.stdout) as { status: string; file: string; result: { media: { width: number }[] } };
    expect(result).toMatchObject({ status: 'succeeded', file: join(dir, 'heron.mp4') });
    expect(await probe(result.file)).toMatch(/1280x720/);

    const missing = await rivya(['tasks', 'get', 'task_missing', '--json'], env);
    expect(missing.code).toBe(5);
    expect(JSON.parse(missing.stdout)).toMatchObject({ error: { code: 'not_found', status: 404 } });

    const invalid = await rivya(['generate', 'x', '--model', 'sora-2', '--size', 'high'], env);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/params\.size/);

    expect((await rivya(['account'], { ...env, RIVYA_API_KEY: 'rv_wrong' })).code).toBe(3);
    expect((await rivya(['account'], { ...env, RIVYA_BASE_URL: 'http://127.0.0.1:9' })).code).toBe(8);
    expect((await rivya(['generate', 'x', '--frobnicate'], env)).code).toBe(2);

    const poor = await service.newAccount(0);
    expect((await rivya(['generate', 'x'], { ...env, RIVYA_API_KEY: poor.key })).code).toBe(4);
  }, 120_000);

  it('lists, uploads and deletes files, lists tasks and models, shows the account and ledger', async () => {
    const uploaded = await rivya(['files', 'upload', await makeMedia(join(dir, 'up.png'), 'image'), '--json'], env);
    expect(uploaded.code, uploaded.stderr).toBe(0);
    const file = JSON.parse(uploaded.stdout) as { id: string };
    expect((await rivya(['files', 'list'], env)).stdout).toContain(file.id);
    expect((await rivya(['files', 'delete', file.id], env)).code).toBe(0);
    expect((await rivya(['files', 'list', '--json'], env)).stdout).not.toContain(file.id);

    expect((await rivya(['generate', 'listed', '--no-download'], env)).code).toBe(0);
    const listed = await rivya(['tasks', 'list', '--status', 'succeeded'], env);
    expect(listed.stdout).toMatch(/^ID\s+STATUS/);
    expect(listed.stdout).toContain('succeeded');
    expect((await rivya(['models'], { RIVYA_BASE_URL: env['RIVYA_BASE_URL']!, RIVYA_API_KEY: '' }, dir)).stdout).toMatch(/sora-2-pro\s+75 credits/);
    expect((await rivya(['account'], env)).stdout).toMatch(/credits: \d+ balance/);
    expect((await rivya(['account', '--ledger'], env)).stdout).toMatch(/capture/);
  }, 60_000);

  it('runs the admin commands with RIVYA_ADMIN_TOKEN', async () => {
    const adminEnv = { RIVYA_BASE_URL: env['RIVYA_BASE_URL']!, RIVYA_ADMIN_TOKEN: ADMIN_TOKEN };
    const created = JSON.parse((await rivya(['admin', 'accounts', 'create', 'Acme', '--credits', '50', '--json'], adminEnv)).stdout) as { id: string };
    const key = JSON.parse((await rivya(['admin', 'keys', 'create', created.id, '--name', 'ci', '--json'], adminEnv)).stdout) as { id: string; key: string };
    expect((await rivya(['admin', 'credits', 'grant', created.id, '30', '--reason', 'test'], adminEnv)).stdout).toMatch(/balance now 80/);
    expect((await rivya(['admin', 'credits', 'grant', created.id, '-5', '--reason', 'correction'], adminEnv)).stdout).toMatch(/Adjusted -5 credits; balance now 75/);
    // A value that looks like a negative number stays as typed; a missing argument names the whole usage.
    expect((await rivya(['admin', 'credits', 'grant', created.id, '1', '--reason', '-1'], adminEnv)).stdout).toMatch(/Granted 1 credits; balance now 76/);
    expect((await rivya(['admin', 'credits', 'grant', created.id, '-1', '--reason', 'back'], adminEnv)).stdout).toMatch(/balance now 75/);
    expect((await rivya(['admin', 'credits', 'grant', created.id], adminEnv)).stderr).toMatch(/grant <account-id> <amount>/);
    expect((await rivya(['account', '--json'], { RIVYA_BASE_URL: adminEnv.RIVYA_BASE_URL, RIVYA_API_KEY: key.key })).stdout).toMatch(/"balance": 75/);
    expect((await rivya(['admin', 'keys', 'revoke', key.id], adminEnv)).code).toBe(0);
    expect((await rivya(['account'], { RIVYA_BASE_URL: adminEnv.RIVYA_BASE_URL, RIVYA_API_KEY: key.key })).code).toBe(3);
    expect((await rivya(['admin', 'accounts', 'create', 'x'], { RIVYA_BASE_URL: adminEnv.RIVYA_BASE_URL, RIVYA_ADMIN_TOKEN: '' })).code).toBe(2);
  }, 60_000);

  it('has --help with examples for every command', async () => {
    for (const command of [[], ['generate'], ['tasks'], ['files'], ['models'], ['account'], ['admin']]) {
      const run = await rivya([...command, '--help'], {});
      expect(run.code, command.join(' ')).toBe(0);
      expect(run.stdout).toMatch(/Usage:/);
      expect(run.stdout, command.join(' ')).toMatch(/Examples:/);
    }
  });
});
