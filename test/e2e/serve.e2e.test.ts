import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeVideo } from '../../src/media/probe-video.js';
import { ffmpegPath } from '../helpers/media.js';
import { apiClient, devKey, freePort, runRivya, startServe, type ServeProcess } from '../helpers/serve-process.js';

describe('rivya serve, as a user runs it', () => {
  let dataDir: string;
  let serve: ServeProcess;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'rivya-e2e-'));
    serve = await startServe({ RIVYA_DATA_DIR: dataDir });
  });
  afterAll(async () => {
    serve?.process.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  it('prints and saves the dev key on first start', async () => {
    const key = await devKey(dataDir);
    expect(key).toMatch(/^rv_/);
    expect(serve.output()).toContain(key);
    expect(serve.output()).toContain('1000 credits');
  });

  it('writes its start as one JSON log line naming each field once (the role among them)', () => {
    const start = serve.output().split('\n').filter((line) => line.includes('"msg":"rivya is running"'));
    expect(start).toHaveLength(1);
    expect(start[0]!.match(/"role":/g)).toHaveLength(1);
    expect(JSON.parse(start[0]!)).toMatchObject({ level: 30, service: 'rivya', role: 'all', database: 'pglite', url: serve.url });
  });

  it('renders a real MP4 of the requested duration and dimensions', async () => {
    const api = apiClient(serve.url, await devKey(dataDir));
    const created = await api<{ id: string; status: string }>('/api/v1/tasks', {
      method: 'POST',
      body: { model: 'sora-2', prompt: 'A lighthouse at dusk, waves rolling in', params: { n_frames: 10, aspect_ratio: 'portrait' } },
    });
    expect(created.status).toBe(201);
    let task: { status: string; progress: number; result: { media: { url: string; width: number; height: number; durationSeconds: number; sizeBytes: number }[] } | null } | undefined;
    const progress = new Set<number>();
    for (let i = 0; i < 60 && task?.status !== 'succeeded'; i++) {
      task = (await api<NonNullable<typeof task>>(`/api/v1/tasks/${created.body.id}?wait=1`)).body;
      progress.add(task.progress);
      expect(['queued', 'running', 'succeeded']).toContain(task.status);
    }
    expect(task?.status).toBe('succeeded');
    const media = task!.result!.media[0]!;
    expect(media).toMatchObject({ width: 720, height: 1280, durationSeconds: 10 });
    const download = await fetch(media.url);
    expect(download.status).toBe(200);
    const bytes = Buffer.from(await download.arrayBuffer());
    expect(bytes.length).toBe(media.sizeBytes);
    const file = join(dataDir, 'downloaded.mp4');
    await writeFile(file, bytes);
    const info = await probeVideo(file, ffmpegPath);
    expect(info).toMatchObject({ width: 720, height: 1280, codec: 'h264' });
    expect(info.durationSeconds).toBeCloseTo(10, 0);
    const account = await api<{ credits: { balance: number; held: number } }>('/api/v1/account');
    expect(account.body.credits).toEqual({ balance: 994, held: 0, available: 994 });
  });

  it('refuses a second process on the same data dir with a clear message', async () => {
    await expect(startServe({ RIVYA_DATA_DIR: dataDir })).rejects.toThrow(/in use by another Rivya process/);
  });

  it('shuts down gracefully on SIGTERM', async () => {
    serve.process.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
  });
});

/** What a start that failed printed: exactly one line on stderr, and no stack. */
function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at /);
  return lines[0]!;
}

const exists = (path: string) => access(path).then(() => true, () => false);

describe('rivya serve: start-up failures, the dev key, and the address clients find', () => {
  let dir: string;
  let dataDir: string;
  let blocker: Server;
  let blockedPort: number;
  /** The environment of a client run next to the service: no address or key given. */
  let clientEnv: Record<string, string | undefined>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rivya-e2e-start-'));
    dataDir = join(dir, '.rivya');
    blockedPort = await freePort();
    blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(blockedPort, '127.0.0.1', resolve));
    clientEnv = { RIVYA_DATA_DIR: undefined, RIVYA_BASE_URL: undefined, RIVYA_API_KEY: undefined, PORT: String(await freePort()) };
  });
  afterAll(async () => {
    await new Promise((resolve) => blocker?.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('a port in use: one line naming the port and PORT, exit 78, and no dev account made', async () => {
    const failed = await runRivya(['serve'], { HOST: '127.0.0.1', PORT: String(blockedPort), RIVYA_DATA_DIR: dataDir, RIVYA_PROVIDER: 'instant' });
    expect(failed.code, failed.stderr).toBe(78);
    const line = oneLine(failed.stderr);
    expect(line).toContain(`Port ${blockedPort}`);
    expect(line).toMatch(/\bPORT\b/);
    expect(failed.stdout).not.toContain('rivya is running');
    expect(await exists(join(dataDir, 'dev-api-key'))).toBe(false);
    expect(await exists(join(dataDir, 'rivya.lock'))).toBe(false);
  });

  it('a data dir that cannot be made or written: one line naming it and RIVYA_DATA_DIR, exit 78 (serve and migrate)', async () => {
    // Below a regular file: no directory can be made there, whoever runs it.
    await writeFile(join(dir, 'a-file'), '');
    const unusable = join(dir, 'a-file', 'data');
    for (const args of [['serve'], ['migrate'], ['migrate', '--status']]) {
      const failed = await runRivya(args, { PORT: String(await freePort()), RIVYA_DATA_DIR: unusable, RIVYA_PROVIDER: 'instant' });
      expect(failed.code, `${args.join(' ')}: ${failed.stderr}`).toBe(78);
      const line = oneLine(failed.stderr);
      expect(line).toContain(unusable);
      expect(line).toMatch(/\bRIVYA_DATA_DIR\b/);
    }
  });

  it('a database that cannot be reached: one line naming DATABASE_URL and what failed, exit 69 (serve and migrate)', async () => {
    // Nothing listens on a free port: the connection is refused.
    const databaseUrl = `postgres://postgres@127.0.0.1:${await freePort()}/rivya`;
    for (const args of [['serve'], ['migrate']]) {
      const failed = await runRivya(args, {
        PORT: String(await freePort()), RIVYA_DATA_DIR: dataDir, DATABASE_URL: databaseUrl, RIVYA_SECRET: 'a-secret-of-at-least-32-characters-0123', RIVYA_PROVIDER: 'instant',
      });
      expect(failed.code, `${args.join(' ')}: ${failed.stderr}`).toBe(69);
      const line = oneLine(failed.stderr);
      expect(line).toMatch(/\bDATABASE_URL\b/);
      expect(line).toContain('ECONNREFUSED');
      expect(failed.stdout).not.toContain('rivya is running');
    }
  });

  it('the next start that listens makes the dev account and shows its key; clients here find the service by themselves', async () => {
    // PORT and RIVYA_DATA_DIR as the service has them, in the folder it runs in (./.rivya).
    const serve = await startServe({ RIVYA_DATA_DIR: '', RIVYA_PROVIDER: 'instant' }, [], { cwd: dir });
    try {
      expect(serve.output()).toContain('Created the "dev" account with 1000 credits');
      expect(serve.output()).toContain(await devKey(dataDir));
      expect(JSON.parse(await readFile(join(dataDir, 'server.json'), 'utf8'))).toMatchObject({ url: serve.url, pid: serve.process.pid });

      const account = await runRivya(['account', '--json'], clientEnv, dir);
      expect(account.code, account.stderr).toBe(0);
      expect(JSON.parse(account.stdout)).toMatchObject({ name: 'dev', credits: { balance: 1000 } });
      // RIVYA_DATA_DIR names the data dir from elsewhere.
      expect((await runRivya(['models', '--json'], { ...clientEnv, RIVYA_DATA_DIR: dataDir }, tmpdir())).code).toBe(0);

      // A second process on the same data dir: one line naming the process that holds it.
      const second = await runRivya(['serve'], { HOST: '127.0.0.1', PORT: String(await freePort()), RIVYA_DATA_DIR: dataDir });
      expect(second.code).toBe(78);
      expect(oneLine(second.stderr)).toContain(`pid ${serve.process.pid}`);
    } finally {
      serve.process.kill('SIGTERM');
      expect(await serve.exited).toBe(0);
    }
    expect(await exists(join(dataDir, 'server.json'))).toBe(false);
  });

  it('without a service, a client names the URL it tried and how to change it', async () => {
    const unreachable = await runRivya(['account'], clientEnv, dir);
    expect(unreachable.code).toBe(8);
    expect(unreachable.stderr).toContain(`http://localhost:${clientEnv['PORT']}`);
    expect(unreachable.stderr).toMatch(/RIVYA_BASE_URL/);
    expect(unreachable.stderr).toMatch(/--base-url/);
    expect(unreachable.stderr).toMatch(/rivya serve/);
  });

  it('a restart says where the dev key is (and makes no second account)', async () => {
    const serve = await startServe({ RIVYA_DATA_DIR: dataDir, RIVYA_PROVIDER: 'instant' });
    try {
      expect(serve.output()).toContain(`dev API key in ${join(dataDir, 'dev-api-key')}`);
      expect(serve.output()).not.toContain('Created the "dev" account');
    } finally {
      serve.process.kill('SIGKILL');
      await serve.exited;
    }
    // Killed: its address record stays, but names a process that is gone, so clients do not use it.
    expect(await exists(join(dataDir, 'server.json'))).toBe(true);
    const stale = await runRivya(['account'], clientEnv, dir);
    expect(stale.code).toBe(8);
    expect(stale.stderr).toContain(`http://localhost:${clientEnv['PORT']}`);
  });
});
