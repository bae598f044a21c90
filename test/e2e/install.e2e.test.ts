import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeMedia } from '../helpers/media.js';
import { devKey, startServe, type Run, type ServeProcess } from '../helpers/serve-process.js';

const REPOSITORY = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Where npm fetches from (a CI may point these elsewhere); every other `npm_*` variable is one
 * `npm test` sets for its own scripts, and would make a nested npm act on this repository.
 */
const NPM_SOURCES = new Set(['npm_config_registry', 'npm_config_cache', 'npm_config_userconfig', 'npm_config_cafile', 'npm_config_proxy', 'npm_config_https_proxy', 'npm_config_noproxy']);

/** A user's shell: none of npm's script variables, nothing of a Rivya service's configuration. */
function userEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    const own = /^(npm_|INIT_CWD$|RIVYA_|PORT$|HOST$|DATABASE_URL$|REDIS_URL$)/i.test(name) && !NPM_SOURCES.has(name.toLowerCase());
    if (value !== undefined && !own) env[name] = value;
  }
  return { ...env, ...extra };
}

/** Runs a command to its end (`npm`, an installed `rivya`, `node`) in `cwd`, as a user's shell would. */
function run(command: string, args: string[], cwd: string, extra: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: userEnv(extra), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function succeeded(step: string, running: Promise<Run>): Promise<Run> {
  const result = await running;
  if (result.code !== 0) throw new Error(`${step} failed (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  return result;
}

/** Installs from the npm cache when it can (the registry otherwise), quietly. */
const NPM_INSTALL_FLAGS = ['--prefer-offline', '--no-audit', '--no-fund'];

interface Packed {
  filename: string;
  files: { path: string }[];
}

async function pack(cwd: string, destination: string, workspace?: string): Promise<Packed> {
  const packed = await succeeded(`npm pack ${workspace ?? ''}`, run('npm', ['pack', '--json', '--pack-destination', destination, ...(workspace ? ['-w', workspace] : [])], cwd));
  return (JSON.parse(packed.stdout) as Packed[])[0]!;
}

/** The TypeScript example of the README's SDK section, as the README shows it. */
async function readmeSdkExample(): Promise<string> {
  const readme = await readFile(join(REPOSITORY, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## The TypeScript SDK'));
  const example = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  if (!example) throw new Error('The README has no TypeScript example in its SDK section.');
  return example;
}

/**
 * The clients as someone gets them who is not working in this repository: a fresh copy of it set
 * up with the README's `npm ci`, the `rivya` package packed and installed globally into an empty
 * prefix, and `@rivya/sdk` packed and installed into an empty project. One set-up for the file
 * (two installs run side by side: about 30–60 s on two cores).
 */
describe('the clients, installed as a user installs them', () => {
  let root: string;
  let clone: string;
  let prefix: string;
  let app: string;
  let cliPackage: Packed;
  let serve: ServeProcess;
  let key: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'rivya-install-'));
    clone = join(root, 'clone');
    prefix = join(root, 'prefix');
    app = join(root, 'app');
    await Promise.all([mkdir(prefix), mkdir(app)]);
    // The repository's files as a fresh clone has them (tracked, and new files not ignored).
    const listed = await succeeded('git ls-files', run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], REPOSITORY));
    for (const file of listed.stdout.split('\0').filter(Boolean)) {
      if (!(await stat(join(REPOSITORY, file)).catch(() => null))?.isFile()) continue;
      await mkdir(dirname(join(clone, file)), { recursive: true });
      await copyFile(join(REPOSITORY, file), join(clone, file));
    }
    const installCli = (async () => {
      cliPackage = await pack(clone, root);
      await succeeded('npm install -g', run('npm', ['install', '-g', '--prefix', prefix, ...NPM_INSTALL_FLAGS, join(root, cliPackage.filename)], root));
    })();
    // The README's set-up; the SDK is packed only in the last test, as packing builds it too.
    const setUpClone = succeeded('npm ci', run('npm', ['ci', ...NPM_INSTALL_FLAGS], clone));
    await Promise.all([installCli, setUpClone]);
    // The installed service, run in a folder that is not the clone.
    serve = await startServe({ RIVYA_PROVIDER: 'instant', RIVYA_DATA_DIR: undefined, RIVYA_BASE_URL: undefined }, [], { cwd: app, bin: join(prefix, 'bin', 'rivya') });
    key = await devKey(join(app, '.rivya'));
  }, 300_000);
  afterAll(async () => {
    serve?.process.kill('SIGKILL');
    await serve?.exited;
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('packs the CLI with its sources, and nothing of the repository\'s tests or tools', () => {
    const cliFiles = cliPackage.files.map((file) => file.path);
    expect(cliFiles).toEqual(expect.arrayContaining(['package.json', 'README.md', 'bin/rivya.js', 'src/cli.ts', 'src/db/migrations/0001_init.sql', 'packages/sdk/src/index.ts']));
    expect(cliFiles.filter((path) => !/^(bin\/rivya\.js|src\/|packages\/sdk\/src\/|package\.json$|README\.md$)/.test(path))).toEqual([]);
  });

  it('runs the README\'s SDK example in a fresh clone right after `npm ci`', async () => {
    expect(await stat(join(clone, 'packages', 'sdk', 'dist', 'index.js')).catch(() => null), 'npm ci builds the SDK').not.toBeNull();
    await writeFile(join(clone, 'example.ts'), await readmeSdkExample());
    await makeMedia(join(clone, 'ref.png'), 'image');
    const example = await run(join(clone, 'node_modules', '.bin', 'tsx'), ['example.ts'], clone, { RIVYA_API_KEY: key, RIVYA_BASE_URL: serve.url });
    expect(example.code, example.stderr).toBe(0);
    expect(example.stdout.trim().split('\n').at(-1)).toMatch(new RegExp(`^${serve.url}/objects/`));
  });

  it('runs the globally installed CLI from another folder: --version, models, generate (finding the service it runs next to)', async () => {
    const rivya = join(prefix, 'bin', 'rivya');
    expect(await realpath(rivya)).toMatch(new RegExp(`^${prefix}/lib/node_modules/rivya/`));
    const { version } = JSON.parse(await readFile(join(REPOSITORY, 'package.json'), 'utf8')) as { version: string };
    expect((await run(rivya, ['--version'], app)).stdout).toBe(`rivya ${version}\n`);

    const models = await run(rivya, ['models', '--json'], app);
    expect(models.code, models.stderr).toBe(0);
    expect((JSON.parse(models.stdout) as { id: string }[]).map((model) => model.id)).toEqual(['sora-2', 'sora-2-pro']);

    const generated = await run(rivya, ['generate', 'A paper boat on a rainy street', '--json'], app);
    expect(generated.code, generated.stderr).toBe(0);
    const task = JSON.parse(generated.stdout) as { id: string; status: string; file: string };
    expect(task).toMatchObject({ status: 'succeeded', file: join(app, `${task.id}.mp4`) });
    expect((await stat(task.file)).size).toBeGreaterThan(1000);
  });

  // After the example in the clone: packing the SDK builds it, whatever `npm ci` did.
  it('packs the SDK with its build; another project imports it by name and runs the README\'s example with it', async () => {
    const sdkPackage = await pack(clone, root, '@rivya/sdk');
    const sdkFiles = sdkPackage.files.map((file) => file.path);
    expect(sdkFiles).toEqual(expect.arrayContaining(['package.json', 'dist/index.js', 'dist/index.d.ts']));
    expect(sdkFiles.filter((path) => path.startsWith('src/'))).toEqual([]);
    await writeFile(join(app, 'package.json'), `${JSON.stringify({ name: 'sdk-user', private: true, type: 'module' })}\n`);
    await succeeded('npm install (the SDK)', run('npm', ['install', ...NPM_INSTALL_FLAGS, join(root, sdkPackage.filename)], app));
    expect((await readdir(join(app, 'node_modules'))).filter((name) => !name.startsWith('.'))).toEqual(['@rivya']);
    const resolved = await run(process.execPath, ['--input-type=module', '-e', "console.log(import.meta.resolve('@rivya/sdk'))"], app);
    expect(resolved.stdout.trim()).toBe(`file://${join(app, 'node_modules', '@rivya', 'sdk', 'dist', 'index.js')}`);
    // The example has no type annotations: it runs as JavaScript too.
    await writeFile(join(app, 'example.mjs'), await readmeSdkExample());
    await makeMedia(join(app, 'ref.png'), 'image');
    const example = await run(process.execPath, ['example.mjs'], app, { RIVYA_API_KEY: key, RIVYA_BASE_URL: serve.url });
    expect(example.code, example.stderr).toBe(0);
    expect(example.stdout).toMatch(/^succeeded 100$/m);
    expect(example.stdout.trim().split('\n').at(-1)).toMatch(new RegExp(`^${serve.url}/objects/`));
  });
});
