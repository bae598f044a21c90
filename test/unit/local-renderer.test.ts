import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderVideo, type RenderSpec } from '../../src/media/local-renderer.js';
import { extractFrame, probeVideo } from '../../src/media/probe-video.js';

const run = promisify(execFile);
const ffmpegPath = process.env['RIVYA_FFMPEG_PATH'] ?? (await import('@ffmpeg-installer/ffmpeg')).default.path;

const SMALL: RenderSpec = { prompt: 'a red fox running through snow', width: 320, height: 180, durationSeconds: 2, watermark: false };

let dir: string;
let counter = 0;
const outPath = (): string => join(dir, `clip-${++counter}.mp4`);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rivya-renderer-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function render(spec: RenderSpec, progress?: number[]): Promise<string> {
  const outputPath = outPath();
  await renderVideo(spec, { ffmpegPath, outputPath, onProgress: progress && ((fraction) => progress.push(fraction)) });
  return outputPath;
}

/** Mean absolute difference (0..255) of two equally sized RGB24 buffers. */
function meanAbsDiff(a: Buffer, b: Buffer): number {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs((a[i] ?? 0) - (b[i] ?? 0));
  return sum / a.length;
}

/** Mean absolute difference restricted to a rectangle of two `width`-wide RGB24 frames. */
function regionDiff(a: Buffer, b: Buffer, width: number, region: { x: number; y: number; w: number; h: number }): number {
  let sum = 0;
  for (let y = region.y; y < region.y + region.h; y++) {
    for (let x = region.x; x < region.x + region.w; x++) {
      for (let c = 0; c < 3; c++) {
        const i = (y * width + x) * 3 + c;
        sum += Math.abs((a[i] ?? 0) - (b[i] ?? 0));
      }
    }
  }
  return sum / (region.w * region.h * 3);
}

const thumb = (file: string, atSeconds: number): Promise<Buffer> => extractFrame(file, ffmpegPath, { atSeconds, width: 32, height: 18 });

function expectMonotonicProgress(progress: number[]): void {
  expect(progress.length).toBeGreaterThan(0);
  for (let i = 1; i < progress.length; i++) expect(progress[i]).toBeGreaterThan(progress[i - 1] ?? 0);
  for (const fraction of progress) {
    expect(fraction).toBeGreaterThan(0);
    expect(fraction).toBeLessThanOrEqual(1);
  }
  expect(progress.at(-1)).toBe(1);
}

describe('renderVideo', () => {
  it('renders a short H.264 clip of the requested size and duration, reporting progress', async () => {
    const progress: number[] = [];
    const file = await render(SMALL, progress);
    const info = await probeVideo(file, ffmpegPath);
    expect(info).toMatchObject({ width: 320, height: 180, durationSeconds: 2, codec: 'h264' });
    expect(info.sizeBytes).toBe((await stat(file)).size);
    expectMonotonicProgress(progress);
    expect((await readdir(dir)).filter((name) => name.includes('.partial-'))).toEqual([]);
  });

  it('renders 1280x720 for 10 s in a few seconds', async () => {
    const progress: number[] = [];
    const started = performance.now();
    const file = await render({ ...SMALL, width: 1280, height: 720, durationSeconds: 10, watermark: true }, progress);
    const elapsed = performance.now() - started;
    const info = await probeVideo(file, ffmpegPath);
    expect(info).toMatchObject({ width: 1280, height: 720, durationSeconds: 10, codec: 'h264' });
    expectMonotonicProgress(progress);
    expect(progress.length).toBeGreaterThanOrEqual(2);
    console.info(`1280x720 10 s render: ${Math.round(elapsed)} ms, ${info.sizeBytes} bytes, ${progress.length} progress calls`);
  }, 60_000);

  it('derives the look from the prompt: different prompts differ, the same prompt repeats', async () => {
    const [fox, ocean, foxAgain] = await Promise.all([
      render(SMALL),
      render({ ...SMALL, prompt: 'a calm ocean at sunrise, pastel colours' }),
      render(SMALL),
    ]);
    const [foxFrame, oceanFrame, foxAgainFrame] = await Promise.all([thumb(fox, 1), thumb(ocean, 1), thumb(foxAgain, 1)]);
    expect(meanAbsDiff(foxFrame, oceanFrame)).toBeGreaterThan(20);
    expect(meanAbsDiff(foxFrame, foxAgainFrame)).toBeLessThan(0.5);
  });

  it('moves over time', async () => {
    const file = await render(SMALL);
    expect(meanAbsDiff(await thumb(file, 0), await thumb(file, 1.9))).toBeGreaterThan(5);
  });

  it('draws a visible watermark in the bottom-right corner when asked', async () => {
    const [plain, marked] = await Promise.all([render(SMALL), render({ ...SMALL, watermark: true })]);
    const size = { atSeconds: 1, width: 320, height: 180 };
    const [plainFrame, markedFrame] = await Promise.all([extractFrame(plain, ffmpegPath, size), extractFrame(marked, ffmpegPath, size)]);
    expect(regionDiff(plainFrame, markedFrame, 320, { x: 240, y: 150, w: 76, h: 26 })).toBeGreaterThan(25);
    expect(regionDiff(plainFrame, markedFrame, 320, { x: 0, y: 0, w: 160, h: 90 })).toBeLessThan(6);
  });

  it('kills ffmpeg on abort, removes the partial output and rejects with an AbortError', async () => {
    const outputPath = outPath();
    const controller = new AbortController();
    const rendering = renderVideo({ ...SMALL, width: 1280, height: 720, durationSeconds: 15 }, {
      ffmpegPath, outputPath, signal: controller.signal, onProgress: () => controller.abort(),
    });
    setTimeout(() => controller.abort(), 400);
    await expect(rendering).rejects.toMatchObject({ name: 'AbortError' });
    await expect(stat(outputPath)).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await readdir(dir)).filter((name) => name.includes('.partial-'))).toEqual([]);
  }, 20_000);

  it('rejects at once when the signal is already aborted', async () => {
    const reason = new Error('shutting down');
    const outputPath = outPath();
    await expect(renderVideo(SMALL, { ffmpegPath, outputPath, signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    await expect(stat(outputPath)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('rejects dimensions H.264 cannot encode', async () => {
    await expect(renderVideo({ ...SMALL, width: 321 }, { ffmpegPath, outputPath: outPath() })).rejects.toThrow(RangeError);
  });

  describe('with a reference image', () => {
    let image: string;
    let paddedImage: string;
    let otherImage: string;
    beforeAll(async () => {
      image = join(dir, 'reference.png');
      paddedImage = join(dir, 'reference-4x3.png');
      otherImage = join(dir, 'other.png');
      const still = (source: string, file: string, filter = 'null') =>
        run(ffmpegPath, ['-v', 'error', '-y', '-f', 'lavfi', '-i', source, '-vf', filter, '-frames:v', '1', file]);
      await Promise.all([
        still('testsrc2=s=640x360', image),
        // Red bars above and below: cover-fitting 4:3 into 16:9 must crop exactly these away.
        still('testsrc2=s=640x360', paddedImage, 'pad=640:480:0:60:color=red'),
        still('mandelbrot=s=640x360', otherImage),
      ]);
    });

    it('starts on the image itself, then zooms in', async () => {
      const file = await render({ ...SMALL, referenceImagePath: image });
      expect(await probeVideo(file, ffmpegPath)).toMatchObject({ width: 320, height: 180, durationSeconds: 2, codec: 'h264' });
      const [expected, other, first, last] = await Promise.all([thumb(image, 0), thumb(otherImage, 0), thumb(file, 0), thumb(file, 1.95)]);
      const firstDiff = meanAbsDiff(first, expected);
      expect(firstDiff).toBeLessThan(8);
      expect(meanAbsDiff(other, expected)).toBeGreaterThan(30);
      expect(meanAbsDiff(last, expected)).toBeGreaterThan(firstDiff + 3);
    });

    it('cover-fits an image of another aspect ratio (scale and centre crop)', async () => {
      const file = await render({ ...SMALL, referenceImagePath: paddedImage });
      expect(await probeVideo(file, ffmpegPath)).toMatchObject({ width: 320, height: 180 });
      expect(meanAbsDiff(await thumb(file, 0), await thumb(image, 0))).toBeLessThan(8);
    });
  });
});
