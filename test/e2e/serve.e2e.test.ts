import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeVideo } from '../../src/media/probe-video.js';
import { ffmpegPath } from '../helpers/media.js';
import { apiClient, devKey, startServe, type ServeProcess } from '../helpers/serve-process.js';

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
