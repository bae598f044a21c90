import { openAsBlob } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractFrame } from '../../src/media/probe-video.js';
import { ffmpegPath, makeMedia, meanAbsDiff } from '../helpers/media.js';
import { apiClient, devKey, startServe, type ServeProcess } from '../helpers/serve-process.js';

/** Resident memory of a process, in bytes (Linux). */
async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

describe('Files API through rivya serve', () => {
  let dataDir: string;
  let serve: ServeProcess;
  let key: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'rivya-files-e2e-'));
    serve = await startServe({ RIVYA_DATA_DIR: dataDir });
    key = await devKey(dataDir);
  });
  afterAll(async () => {
    serve?.process.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  const uploadFile = async (path: string, name: string, type: string) => {
    const form = new FormData();
    form.set('file', await openAsBlob(path, { type }), name);
    const response = await fetch(`${serve.url}/api/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it('turns an uploaded image into the first frame of the video', async () => {
    const image = await makeMedia(join(dataDir, 'reference.png'), 'image');
    const uploaded = await uploadFile(image, 'reference.png', 'image/png');
    expect(uploaded.status).toBe(201);
    const api = apiClient(serve.url, key);
    const created = await api<{ id: string }>('/api/v1/tasks', {
      method: 'POST',
      body: {
        model: 'sora-2', prompt: 'Slowly push in on the test card',
        params: { n_frames: 10, remove_watermark: true, referenceMediaItems: [{ url: uploaded.body['url'], kind: 'image', name: 'reference.png', mimeType: 'image/png' }] },
      },
    });
    expect(created.status).toBe(201);
    let task: { status: string; result: { media: { url: string; width: number; height: number }[] } | null } = { status: 'queued', result: null };
    for (let i = 0; i < 60 && !['succeeded', 'failed'].includes(task.status); i++) {
      task = (await api<typeof task>(`/api/v1/tasks/${created.body.id}?wait=2`)).body;
    }
    expect(task.status).toBe('succeeded');
    const media = task.result!.media[0]!;
    expect(media).toMatchObject({ width: 1280, height: 720 });
    const video = join(dataDir, 'result.mp4');
    await writeFile(video, Buffer.from(await (await fetch(media.url)).arrayBuffer()));
    const size = { width: 32, height: 18 };
    const first = await extractFrame(video, ffmpegPath, { atSeconds: 0, ...size });
    const reference = await extractFrame(image, ffmpegPath, { atSeconds: 0, ...size });
    const last = await extractFrame(video, ffmpegPath, { atSeconds: 9.5, ...size });
    expect(meanAbsDiff(first, reference)).toBeLessThan(8);
    // The camera moves: the last frame is no longer the image itself.
    expect(meanAbsDiff(last, reference)).toBeGreaterThan(meanAbsDiff(first, reference));
  });

  it('streams 50 concurrent 10 MB uploads with resident memory growing by less than 150 MB', async () => {
    const path = join(dataDir, 'ten-mb.png');
    const png = await readFile(await makeMedia(join(dataDir, 'small.png'), 'image'));
    await writeFile(path, Buffer.concat([png, Buffer.alloc(9_900_000 - png.length, 7)]));
    await uploadFile(path, 'warm-up.png', 'image/png');
    const pid = serve.process.pid!;
    const before = await rssOf(pid);
    let peak = before;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await rssOf(pid));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => uploadFile(path, `big-${i}.png`, 'image/png')));
    sampling = false;
    await sampler;
    expect(results.map((result) => result.status)).toEqual(Array(50).fill(201));
    expect(results.every((result) => result.body['sizeBytes'] === 9_900_000)).toBe(true);
    const growth = peak - before;
    console.log(`50 concurrent 9.9 MB uploads: resident memory ${Math.round(before / 1e6)} MB before, peak ${Math.round(peak / 1e6)} MB, growth ${Math.round(growth / 1e6)} MB`);
    expect(growth).toBeLessThan(150 * 1024 * 1024);
  });

  it('answers an upload far over its limit with a 413 the sending client reads (not a reset)', async () => {
    // An image of 150 MB (the limit is 10 MB): the service reads and drops the rest before answering,
    // so fetch, still sending, gets the answer instead of EPIPE.
    const path = join(dataDir, 'huge.png');
    const png = await readFile(await makeMedia(join(dataDir, 'small-huge.png'), 'image'));
    await writeFile(path, Buffer.concat([png, Buffer.alloc(150_000_000, 7)]));
    for (let round = 0; round < 5; round++) {
      const outcome = await uploadFile(path, 'huge.png', 'image/png').catch((error: unknown) => ({ status: 0, body: { error: String((error as Error).cause ?? error) } }));
      expect(outcome.status, JSON.stringify(outcome.body)).toBe(413);
      expect(outcome.body).toMatchObject({ error: { code: 'payload_too_large' } });
    }
    await rm(path);
  }, 60_000);
});
