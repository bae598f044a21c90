import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeVideo } from '../../src/media/probe-video.js';
import { ffmpegPath } from '../helpers/media.js';
import { startMockKie, type KieEnvelope, type KieRecordInfo, type MockKie } from '../helpers/mock-kie.js';
import { startMockOpenAiVideos, type MockOpenAiVideos, type OpenAiError, type OpenAiVideo } from '../helpers/mock-openai-videos.js';
import { waitFor } from '../helpers/wait-for.js';

let dir: string;
let png1280x720: Buffer;
/** A tiny local server: images for Kie to fetch, and a sink for Kie callbacks. */
let local: Server;
let localUrl: string;
const received: unknown[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rivya-mock-upstreams-'));
  const pngPath = join(dir, 'ref.png');
  await promisify(execFile)(ffmpegPath, ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=s=1280x720', '-frames:v', '1', pngPath]);
  png1280x720 = await readFile(pngPath);
  local = createServer((req, res) => {
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        res.writeHead(200).end('ok');
      });
    } else if (req.url === '/image.png') {
      res.writeHead(200, { 'content-type': 'image/png' }).end(png1280x720);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no');
    }
  });
  await new Promise<void>((resolve) => local.listen(0, '127.0.0.1', resolve));
  const address = local.address();
  localUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  await new Promise((resolve) => local.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

/** Downloads `url`, checks it is a real MP4 and returns its probed facts. */
async function downloadMp4(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { headers });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toBe('video/mp4');
  const bytes = Buffer.from(await response.arrayBuffer());
  expect(bytes.toString('latin1', 4, 8)).toBe('ftyp');
  const path = join(dir, `${Math.random().toString(36).slice(2)}.mp4`);
  await writeFile(path, bytes);
  return probeVideo(path, ffmpegPath);
}

describe('mock Kie.ai', () => {
  let kie: MockKie;
  beforeAll(async () => {
    kie = await startMockKie();
  });
  afterAll(() => kie.close());

  const headers = { authorization: 'Bearer kie-test-key', 'content-type': 'application/json' };
  const createTask = async (body: unknown, extra: Record<string, string> = {}) => {
    const response = await fetch(`${kie.url}/api/v1/jobs/createTask`, { method: 'POST', headers: { ...headers, ...extra }, body: JSON.stringify(body) });
    expect(response.status).toBe(200);
    return (await response.json()) as KieEnvelope<{ taskId: string } | null>;
  };
  const recordInfo = async (taskId: string) => {
    const response = await fetch(`${kie.url}/api/v1/jobs/recordInfo?taskId=${taskId}`, { headers });
    return (await response.json()) as KieEnvelope<KieRecordInfo | null>;
  };
  const textToVideo = { model: 'sora-2-text-to-video', input: { prompt: 'a cat on a piano', aspect_ratio: 'portrait', n_frames: '10', remove_watermark: true } };

  it('creates a task, moves it to success and serves a real MP4 of the asked size and length', async () => {
    const created = await createTask(textToVideo);
    expect(created).toMatchObject({ code: 200, msg: 'success', data: { taskId: expect.stringMatching(/^kie_[0-9a-f]{24}$/) } });
    const taskId = created.data!.taskId;
    const states = new Set<string>();
    const done = await waitFor(async () => {
      const { data } = await recordInfo(taskId);
      states.add(data!.state);
      return data!.state === 'success' ? data : null;
    }, 5_000, 'Kie success');
    expect(states.has('generating')).toBe(true);
    expect(JSON.parse(done.param)).toEqual(textToVideo);
    expect(done).toMatchObject({ model: 'sora-2-text-to-video', failCode: '', failMsg: '', createTime: expect.any(Number), completeTime: expect.any(Number) });
    const { resultUrls } = JSON.parse(done.resultJson) as { resultUrls: string[] };
    const video = await downloadMp4(resultUrls[0]!);
    expect(video).toMatchObject({ width: 720, height: 1280, codec: 'h264' });
    expect(video.durationSeconds).toBeCloseTo(10, 0);
    expect(kie.createCount()).toBe(1);
  });

  it('answers auth and validation errors with HTTP 200 and the code in the body', async () => {
    expect(await createTask(textToVideo, { authorization: 'Bearer wrong' })).toEqual({ code: 401, msg: 'You do not have access permissions', data: null });
    const bad = await createTask({ ...textToVideo, input: { ...textToVideo.input, n_frames: 10 } });
    expect(bad).toMatchObject({ code: 422, data: null, msg: expect.stringContaining('n_frames') });
    const sizeOnNonPro = await createTask({ ...textToVideo, input: { ...textToVideo.input, size: 'high' } });
    expect(sizeOnNonPro).toMatchObject({ code: 422, msg: expect.stringContaining('size') });
    expect(await recordInfo('kie_nope')).toEqual({ code: 422, msg: 'recordInfo is null', data: null });
  });

  it('fails per scenario and posts the callback', async () => {
    kie.nextJobs({ outcome: 'fail', durationMs: 50, failCode: '500', failMsg: 'boom' });
    const { data } = await createTask({ ...textToVideo, callBackUrl: `${localUrl}/kie-callback` });
    const callback = await waitFor(() => kie.callbacks.find((c) => c.payload.data.taskId === data!.taskId), 5_000, 'Kie callback');
    expect(callback).toMatchObject({ status: 200, payload: { code: 501, data: { state: 'fail', failCode: '500', failMsg: 'boom', resultJson: '' } } });
    expect(received).toContainEqual(callback.payload);
    expect((await recordInfo(data!.taskId)).data).toMatchObject({ state: 'fail', failCode: '500' });
  });

  it('downloads image_urls and fails the job when an image cannot be fetched', async () => {
    const imageToVideo = (url: string) => ({ model: 'sora-2-pro-image-to-video', input: { prompt: 'wave', aspect_ratio: 'landscape', n_frames: '15', size: 'high', image_urls: [url] } });
    kie.nextJobs({ outcome: 'success', durationMs: 50, result: 'missing' }, { outcome: 'success', durationMs: 50 });
    const good = (await createTask(imageToVideo(`${localUrl}/image.png`))).data!.taskId;
    const bad = (await createTask(imageToVideo(`${localUrl}/missing.png`))).data!.taskId;
    const goodRecord = await waitFor(async () => ((await recordInfo(good)).data?.state === 'success' ? recordInfo(good) : null));
    const badRecord = await waitFor(async () => ((await recordInfo(bad)).data?.state === 'fail' ? recordInfo(bad) : null));
    expect(badRecord.data).toMatchObject({ failCode: '422', failMsg: 'image could not be downloaded' });
    const goodJob = kie.jobs.find((job) => job.id === good)!;
    expect(goodJob).toMatchObject({ width: 1792, height: 1024, seconds: 15, imageFetches: [{ status: 200, contentType: 'image/png', bytes: png1280x720.length }] });
    const url = (JSON.parse(goodRecord.data!.resultJson) as { resultUrls: string[] }).resultUrls[0]!;
    expect((await fetch(url)).status).toBe(404);
  });

  it('injects code faults, HTTP 429 with Retry-After and malformed bodies', async () => {
    kie.inject('create', { kind: 'code', code: 402, msg: 'Credits insufficient' });
    kie.inject('create', { kind: 'http', status: 429, headers: { 'retry-after': '1' }, body: 'slow down' });
    kie.inject('create', { kind: 'malformed' });
    const before = kie.createCount();
    expect(await createTask(textToVideo)).toEqual({ code: 402, msg: 'Credits insufficient', data: null });
    const limited = await fetch(`${kie.url}/api/v1/jobs/createTask`, { method: 'POST', headers, body: JSON.stringify(textToVideo) });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    const malformed = await fetch(`${kie.url}/api/v1/jobs/createTask`, { method: 'POST', headers, body: JSON.stringify(textToVideo) });
    expect(malformed.headers.get('content-type')).toBe('application/json');
    await expect(malformed.json()).rejects.toThrow();
    expect(kie.createCount()).toBe(before);
    expect(kie.requests.slice(-3).map((r) => r.status)).toEqual([200, 429, 200]);
  });

  it('keeps a hung request open until close() destroys it', async () => {
    const other = await startMockKie();
    other.inject('status', { kind: 'hang' });
    const hung = fetch(`${other.url}/api/v1/jobs/recordInfo?taskId=x`, { headers });
    await waitFor(() => other.requests.length === 1);
    await other.close();
    await expect(hung).rejects.toThrow();
    expect(other.requests[0]).toMatchObject({ route: 'status', status: 0 });
  });
});

describe('mock OpenAI /v1/videos', () => {
  let openai: MockOpenAiVideos;
  beforeAll(async () => {
    openai = await startMockOpenAiVideos();
  });
  afterAll(() => openai.close());

  const auth = { authorization: 'Bearer openai-test-key' };
  const createJson = (body: unknown, extra: Record<string, string> = {}) =>
    fetch(`${openai.url}/videos`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json', ...extra }, body: JSON.stringify(body) });
  const retrieve = async (id: string) => (await (await fetch(`${openai.url}/videos/${id}`, { headers: { 'api-key': 'openai-test-key' } })).json()) as OpenAiVideo;

  it('creates from a multipart form with a reference image, completes and serves a real MP4', async () => {
    const form = new FormData();
    form.set('model', 'sora-2');
    form.set('prompt', 'a red balloon');
    form.set('seconds', '4');
    form.set('size', '1280x720');
    form.set('input_reference', new Blob([png1280x720], { type: 'image/png' }), 'ref.png');
    const response = await fetch(`${openai.url}/videos`, { method: 'POST', headers: auth, body: form });
    expect(response.status).toBe(200);
    const created = (await response.json()) as OpenAiVideo;
    expect(created).toMatchObject({ object: 'video', model: 'sora-2', status: 'queued', progress: 0, size: '1280x720', seconds: '4', error: null, completed_at: null });
    expect(created.id).toMatch(/^video_[0-9a-f]{48}$/);
    expect(openai.jobs[0]!.inputReference).toMatchObject({ mimeType: 'image/png', width: 1280, height: 720, bytes: png1280x720.length });
    const progress: number[] = [];
    const done = await waitFor(async () => {
      const video = await retrieve(created.id);
      progress.push(video.progress);
      return video.status === 'completed' ? video : null;
    }, 5_000, 'OpenAI completion');
    expect(done).toMatchObject({ progress: 100, completed_at: expect.any(Number), expires_at: expect.any(Number) });
    expect(progress.some((p) => p > 0 && p < 100)).toBe(true);
    const video = await downloadMp4(`${openai.url}/videos/${created.id}/content?variant=video`, auth);
    expect(video).toMatchObject({ width: 1280, height: 720, codec: 'h264' });
    expect(video.durationSeconds).toBeCloseTo(4, 0);
  });

  it('replays an Idempotency-Key, even when the first answer was lost', async () => {
    openai.inject('create', { kind: 'accept-then-reset' });
    const before = openai.createCount();
    const body = { model: 'sora-2-pro', prompt: 'a fox', seconds: '8', size: '1024x1792' };
    await expect(createJson(body, { 'idempotency-key': 'key-1' })).rejects.toThrow();
    expect(openai.createCount()).toBe(before + 1);
    const replay = await createJson(body, { 'idempotency-key': 'key-1' });
    expect(replay.status).toBe(200);
    expect(((await replay.json()) as OpenAiVideo).id).toBe(openai.jobs.at(-1)!.id);
    expect(openai.createCount()).toBe(before + 1);
  });

  it('fails jobs with the content-policy code and refuses bad requests with the error envelope', async () => {
    openai.nextJobs({ outcome: 'fail', durationMs: 50 });
    const created = (await (await createJson({ model: 'sora-2', prompt: 'x', seconds: '4', size: '720x1280' })).json()) as OpenAiVideo;
    const failed = await waitFor(async () => {
      const video = await retrieve(created.id);
      return video.status === 'failed' ? video : null;
    });
    expect(failed.error).toEqual({ code: 'moderation_blocked', message: expect.any(String) });
    const content = await fetch(`${openai.url}/videos/${created.id}/content`, { headers: auth });
    expect(content.status).toBe(400);

    const cases: [unknown, string][] = [
      [{ model: 'sora-2', prompt: 'x', seconds: '5' }, 'seconds'],
      [{ model: 'sora-2', prompt: 'x', seconds: 4 }, 'seconds'],
      [{ model: 'sora-2', prompt: 'x', size: '1792x1024' }, 'size'],
      [{ model: 'sora-3', prompt: 'x' }, 'model'],
      [{ model: 'sora-2' }, 'prompt'],
      [{ model: 'sora-2', prompt: 'x', duration: '4' }, 'duration'],
    ];
    for (const [body, param] of cases) {
      const response = await createJson(body);
      expect(response.status).toBe(400);
      expect(((await response.json()) as OpenAiError).error).toMatchObject({ type: 'invalid_request_error', param });
    }
    const wrongKey = await fetch(`${openai.url}/videos/${created.id}`, { headers: { authorization: 'Bearer nope' } });
    expect(wrongKey.status).toBe(401);
    expect(((await wrongKey.json()) as OpenAiError).error.code).toBe('invalid_api_key');
    const unknown = await fetch(`${openai.url}/videos/video_nope`, { headers: auth });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as OpenAiError).error.code).toBe('not_found');
  });

  it('injects 429 and malformed answers, deletes videos and streams a huge result', async () => {
    openai.nextJobs({ outcome: 'success', durationMs: 0, result: 'huge' });
    const created = (await (await createJson({ prompt: 'y' })).json()) as OpenAiVideo;
    expect(created).toMatchObject({ model: 'sora-2', size: '720x1280', seconds: '4' });
    openai.inject('status', { kind: 'http', status: 429, headers: { 'retry-after': '1', 'content-type': 'application/json' }, body: '{"error":{"message":"Rate limit","type":"requests","param":null,"code":"rate_limit_exceeded"}}' });
    openai.inject('status', { kind: 'malformed' });
    const limited = await fetch(`${openai.url}/videos/${created.id}`, { headers: auth });
    expect([limited.status, limited.headers.get('retry-after')]).toEqual([429, '1']);
    await limited.arrayBuffer();
    await expect((await fetch(`${openai.url}/videos/${created.id}`, { headers: auth })).json()).rejects.toThrow();
    expect((await retrieve(created.id)).status).toBe('completed');

    const huge = await fetch(`${openai.url}/videos/${created.id}/content`, { headers: auth });
    expect([huge.status, huge.headers.get('content-type'), huge.headers.get('content-length')]).toEqual([200, 'video/mp4', null]);
    const reader = huge.body!.getReader();
    const first = await reader.read();
    expect(Buffer.from(first.value ?? []).toString('latin1', 4, 8)).toBe('ftyp');
    await reader.cancel();

    const deleted = await fetch(`${openai.url}/videos/${created.id}`, { method: 'DELETE', headers: auth });
    expect(await deleted.json()).toEqual({ id: created.id, object: 'video.deleted', deleted: true });
    expect(openai.cancelCount()).toBe(1);
    expect((await fetch(`${openai.url}/videos/${created.id}`, { headers: auth })).status).toBe(404);
  });
});
