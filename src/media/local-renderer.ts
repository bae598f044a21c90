import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { access, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';

/** What to render: a deterministic, prompt-derived animation (or a slow zoom over a reference image). */
export interface RenderSpec {
  prompt: string;
  /** Output width in pixels; must be a positive even integer (H.264 yuv420p). */
  width: number;
  /** Output height in pixels; must be a positive even integer. */
  height: number;
  /** Output duration in seconds (rendered at 24 fps, rounded to whole frames). */
  durationSeconds: number;
  /** Draw a clearly visible "RIVYA" watermark (built from boxes, so it never depends on a font). */
  watermark: boolean;
  /** Optional still image: it becomes frame 0 (cover-fitted), followed by a slow zoom-in. */
  referenceImagePath?: string | undefined;
}

/** How to run a render. */
export interface RenderOptions {
  ffmpegPath: string;
  /** Final MP4 path; written under a temporary name next to it and renamed once complete. */
  outputPath: string;
  /** Aborting kills ffmpeg (SIGKILL), removes partial output and rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /** Monotonic progress in 0..1, reported roughly every 0.5 s while ffmpeg runs and 1 at the end. */
  onProgress?: ((fraction: number) => void) | undefined;
  /** A TrueType font for the prompt text, tried before the usual system fonts. */
  fontPath?: string | undefined;
}

const FPS = 24;
/** Starting zoom is 1 (frame 0 is the image itself); the zoom reaches this factor at the last frame. */
const REFERENCE_END_ZOOM = 1.12;
const FONT_CANDIDATES = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf',
  '/usr/share/fonts/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/TTF/DejaVuSans.ttf',
  '/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf',
  '/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf',
  '/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf',
  '/usr/share/fonts/truetype/freefont/FreeSans.ttf',
  '/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf',
  '/usr/share/fonts/noto/NotoSans-Regular.ttf',
  '/System/Library/Fonts/Supplemental/Arial.ttf',
  '/Library/Fonts/Arial.ttf',
  'C:\\Windows\\Fonts\\arial.ttf',
];
/** 5×7 bitmap glyphs of the watermark word. */
const WATERMARK_GLYPHS: readonly (readonly string[])[] = [
  ['####.', '#...#', '#...#', '####.', '#.#..', '#..#.', '#...#'], // R
  ['#####', '..#..', '..#..', '..#..', '..#..', '..#..', '#####'], // I
  ['#...#', '#...#', '#...#', '#...#', '#...#', '.#.#.', '..#..'], // V
  ['#...#', '#...#', '.#.#.', '..#..', '..#..', '..#..', '..#..'], // Y
  ['.###.', '#...#', '#...#', '#####', '#...#', '#...#', '#...#'], // A
];

interface Rect { x: number; y: number; w: number; h: number }

/**
 * Renders an H.264 (yuv420p, faststart) MP4 of exactly `width`×`height` and `durationSeconds` with ffmpeg.
 * The look (palette, frequencies, motion) is derived from a SHA-256 of the prompt, so equal prompts render
 * identical frames and different prompts clearly different ones. With a font available, the prompt is shown.
 */
export async function renderVideo(spec: RenderSpec, options: RenderOptions): Promise<void> {
  validateSpec(spec);
  const { signal } = options;
  signal?.throwIfAborted();
  const frames = Math.max(1, Math.round(spec.durationSeconds * FPS));
  // Scratch files live next to the output, so whoever owns that directory cleans them up too.
  await mkdir(dirname(options.outputPath), { recursive: true });
  const workDir = await mkdtemp(join(dirname(options.outputPath), '.render-'));
  const tempOutput = `${options.outputPath}.partial-${randomBytes(6).toString('hex')}.mp4`;
  try {
    const inputs: string[] = [];
    let graph: string;
    if (spec.referenceImagePath !== undefined) {
      inputs.push('-i', `file:${spec.referenceImagePath}`); // `file:` so no other protocol (http:, concat:…) is used
      graph = `[0:v]${referenceChain(spec, frames)}`;
    } else {
      const font = await findFont(options.fontPath);
      const textFile = font === undefined ? undefined : join(workDir, 'prompt.txt');
      if (textFile !== undefined) await writeFile(textFile, wrapPrompt(spec), 'utf8');
      graph = promptChain(spec, frames, font !== undefined && textFile !== undefined ? { font, textFile } : undefined);
    }
    if (spec.watermark) graph += `,${watermarkFilters(spec.width, spec.height).join(',')}`;
    graph += ',format=yuv420p[v]';
    signal?.throwIfAborted();
    await runFfmpeg(options.ffmpegPath, [
      '-hide_banner', '-nostdin', '-loglevel', 'error', '-nostats', '-progress', 'pipe:1', '-y',
      ...inputs, '-filter_complex', graph, '-map', '[v]', '-an', '-frames:v', String(frames), '-r', String(FPS),
      '-c:v', 'libx264', '-preset', 'superfast', '-crf', '26', '-pix_fmt', 'yuv420p',
      '-threads', String(Math.min(availableParallelism(), 8)), '-movflags', '+faststart', '-f', 'mp4', tempOutput,
    ], frames / FPS, options);
    signal?.throwIfAborted();
    await rename(tempOutput, options.outputPath);
    options.onProgress?.(1);
  } finally {
    await rm(tempOutput, { force: true });
    await rm(workDir, { recursive: true, force: true });
  }
}

function validateSpec(spec: RenderSpec): void {
  for (const [name, value] of [['width', spec.width], ['height', spec.height]] as const) {
    if (!Number.isInteger(value) || value < 2 || value % 2 !== 0 || value > 8192) {
      throw new RangeError(`${name} must be an even integer in 2..8192, got ${value}`);
    }
  }
  if (!Number.isFinite(spec.durationSeconds) || spec.durationSeconds <= 0 || spec.durationSeconds > 600) {
    throw new RangeError(`durationSeconds must be in (0, 600], got ${spec.durationSeconds}`);
  }
}

/** Deterministic numbers in [0, 1) drawn from the prompt's SHA-256 (16 values, 2 bytes each). */
function promptParameters(prompt: string): (index: number) => number {
  const digest = createHash('sha256').update(prompt, 'utf8').digest();
  return (index) => digest.readUInt16BE((index % 16) * 2) / 65536;
}

const num = (value: number): string => value.toFixed(4);

/**
 * A low-resolution animated plasma (one grey `geq` plane: three interfering waves plus two drifting orbs),
 * coloured through a prompt-derived palette (`lutrgb`) and upscaled; the prompt is drawn when a font exists.
 */
function promptChain(spec: RenderSpec, frames: number, text: { font: string; textFile: string } | undefined): string {
  const p = promptParameters(spec.prompt);
  const scale = 64 / Math.max(spec.width, spec.height);
  const lowW = Math.max(8, Math.round(spec.width * scale));
  const lowH = Math.max(8, Math.round(spec.height * scale));
  const u = '(X/W)', v = '(Y/H)';
  const wave1 = `sin(2*PI*(${num(0.5 + 2.5 * p(0))}*${u}+${num(p(1))})+T*${num(0.3 + 0.8 * p(2))})`;
  const wave2 = `sin(2*PI*(${num(0.5 + 2.5 * p(3))}*${v}+${num(p(4))})-T*${num(0.2 + 0.7 * p(5))})`;
  const wave3 = `sin(2*PI*${num(1 + 3 * p(6))}*hypot(${u}-${num(0.2 + 0.6 * p(7))},${v}-${num(0.2 + 0.6 * p(8))})-T*${num(0.4 + 1.0 * p(9))})`;
  const orb = (i: number, speed: number): string =>
    `exp(-(pow(${u}-0.5-0.35*sin(T*${num(speed)}+${num(6 * p(i))}),2)+pow(${v}-0.5-0.35*cos(T*${num(speed * 1.3)}+${num(6 * p(i + 1))}),2))*40)`;
  const field = `128+90*(${wave1}+${wave2}+${wave3})/3+100*(${orb(10, 0.3 + p(12))}+${orb(13, 0.2 + p(15))})`;
  const cycles = num(1 + 1.5 * p(11));
  const hue = 2 * Math.PI * p(14);
  const channel = (phase: number): string => `clip(128+105*sin(PI*${cycles}*(val/127.5-1)+${num(phase)}),0,255)`;
  const filters = [
    `nullsrc=s=${lowW}x${lowH}:r=${FPS}:d=${num(frames / FPS + 1)}`,
    'format=gray',
    `geq=lum=${quote(field)}`,
    'format=gbrp',
    `lutrgb=r=${quote(channel(hue))}:g=${quote(channel(hue + 1 + 2 * p(1)))}:b=${quote(channel(hue + 3 + 2 * p(4)))}`,
    `scale=${spec.width}:${spec.height}:flags=bicubic`,
    'setsar=1',
    'format=yuv420p',
  ];
  if (text !== undefined) {
    const fontSize = textFontSize(spec);
    filters.push([
      `drawtext=fontfile=${quote(text.font)}`, `textfile=${quote(text.textFile)}`, 'expansion=none',
      `fontsize=${fontSize}`, 'fontcolor=white', `line_spacing=${Math.round(fontSize / 4)}`,
      'box=1', 'boxcolor=black@0.45', `boxborderw=${Math.round(fontSize / 3)}`,
      'x=(w-text_w)/2', `y=${Math.round(spec.height * 0.08)}`,
    ].join(':'));
  }
  return filters.join(',');
}

/** Cover-fit the image (scale + centre crop, at 2× for a smoother pan) and zoom in slowly; frame 0 is unzoomed. */
function referenceChain(spec: RenderSpec, frames: number): string {
  const workW = spec.width * 2, workH = spec.height * 2;
  const last = Math.max(1, frames - 1);
  const zoom = `1+${num(REFERENCE_END_ZOOM - 1)}*on/${last}`;
  return [
    'trim=end_frame=1', // only the first frame of an animated or video input
    `scale=${workW}:${workH}:force_original_aspect_ratio=increase:flags=bicubic`,
    `crop=${workW}:${workH}`,
    'setsar=1',
    'format=yuv420p',
    `zoompan=z=${quote(zoom)}:x=${quote('(iw-iw/zoom)/2')}:y=${quote('(ih-ih/zoom)/2')}:d=${frames}:s=${spec.width}x${spec.height}:fps=${FPS}`,
  ].join(',');
}

function textFontSize(spec: RenderSpec): number {
  return Math.max(10, Math.round(Math.min(spec.width, spec.height) / 18));
}

/** Prompt as at most 3 word-wrapped lines sized to the frame, control characters flattened to spaces. */
function wrapPrompt(spec: RenderSpec): string {
  const maxChars = Math.max(8, Math.floor((spec.width * 0.86) / (textFontSize(spec) * 0.6)));
  const words = spec.prompt.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim().split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let current = '';
  for (const word of words) {
    for (let piece = word; piece.length > 0; piece = piece.slice(maxChars)) {
      const chunk = piece.slice(0, maxChars);
      if (current === '') current = chunk;
      else if (current.length + 1 + chunk.length <= maxChars) current += ` ${chunk}`;
      else { lines.push(current); current = chunk; }
    }
  }
  if (current !== '') lines.push(current);
  if (lines.length > 3) lines.splice(2, lines.length, `${lines[2]?.slice(0, maxChars - 3) ?? ''}...`);
  return lines.length > 0 ? lines.join('\n') : ' ';
}

/** "RIVYA" as filled boxes in the bottom-right corner over a translucent dark plate. */
function watermarkFilters(width: number, height: number): string[] {
  const cell = Math.max(2, Math.round(Math.min(width, height) / 80));
  const wordW = (WATERMARK_GLYPHS.length * 6 - 1) * cell, wordH = 7 * cell;
  const originX = width - wordW - 3 * cell, originY = height - wordH - 3 * cell;
  const box = (r: Rect, color: string): string => `drawbox=x=${r.x}:y=${r.y}:w=${r.w}:h=${r.h}:c=${color}:t=fill`;
  const plate = { x: originX - cell, y: originY - cell, w: wordW + 2 * cell, h: wordH + 2 * cell };
  const letters = glyphRects().map((r) => ({ x: originX + r.x * cell, y: originY + r.y * cell, w: r.w * cell, h: r.h * cell }));
  return [box(plate, 'black@0.45'), ...letters.map((r) => box(r, 'white@0.9'))];
}

/** The glyph bitmaps as few rectangles (in cells): horizontal runs merged with identical runs below them. */
function glyphRects(): Rect[] {
  const rects: Rect[] = [];
  WATERMARK_GLYPHS.forEach((rows, letter) => {
    const open = new Map<string, Rect>();
    rows.forEach((row, y) => {
      const seen = new Set<string>();
      for (const match of row.matchAll(/#+/g)) {
        const x = letter * 6 + (match.index ?? 0), key = `${x}:${match[0].length}`;
        seen.add(key);
        const rect = open.get(key);
        if (rect !== undefined && rect.y + rect.h === y) rect.h += 1;
        else { const fresh = { x, y, w: match[0].length, h: 1 }; open.set(key, fresh); rects.push(fresh); }
      }
      for (const key of open.keys()) if (!seen.has(key)) open.delete(key);
    });
  });
  return rects;
}

/** Escapes an option value for both the filter-argument and the filtergraph levels of ffmpeg's syntax. */
function quote(value: string): string {
  const argumentLevel = value.replace(/[\\':]/g, '\\$&');
  return argumentLevel.replace(/[\\'[\],;]/g, '\\$&');
}

async function findFont(configured: string | undefined): Promise<string | undefined> {
  for (const candidate of configured ? [configured, ...FONT_CANDIDATES] : FONT_CANDIDATES) {
    try {
      await access(candidate);
      return candidate;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

/** Runs ffmpeg, forwarding `-progress` output as fractions of `totalSeconds`; honours the abort signal. */
function runFfmpeg(ffmpegPath: string, args: string[], totalSeconds: number, options: RenderOptions): Promise<void> {
  const { signal, onProgress } = options;
  return new Promise<void>((resolve, reject) => {
    const child = spawn(ffmpegPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let pending = '';
    let reported = 0;
    const onAbort = (): void => { child.kill('SIGKILL'); };
    signal?.addEventListener('abort', onAbort, { once: true });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-4000); });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const seconds = progressSeconds(line.trim());
        if (seconds === undefined || onProgress === undefined) continue;
        const fraction = Math.min(0.99, Math.max(0, seconds / totalSeconds));
        if (fraction > reported) { reported = fraction; onProgress(fraction); }
      }
    });
    child.once('error', (error) => { signal?.removeEventListener('abort', onAbort); reject(error); });
    child.once('close', (code, exitSignal) => {
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) reject(signal.reason instanceof Error ? signal.reason : new DOMException('The render was aborted', 'AbortError'));
      else if (code === 0) resolve();
      else reject(new Error(`ffmpeg failed (${exitSignal ?? `exit ${code}`}): ${stderr.trim() || 'no output'}`));
    });
  });
}

/** Output time in seconds from one `-progress` line (`out_time_us`, or the older `out_time_ms`, which is µs too). */
function progressSeconds(line: string): number | undefined {
  const match = /^out_time_(?:us|ms)=(-?\d+)$/.exec(line);
  if (match?.[1] === undefined) return undefined;
  const micros = Number(match[1]);
  return Number.isFinite(micros) && micros >= 0 ? micros / 1e6 : undefined;
}
