import { execFile } from 'node:child_process';
import { open, stat, type FileHandle } from 'node:fs/promises';

/** Basic facts about a video file. */
export interface VideoInfo {
  width: number;
  height: number;
  /** Duration in seconds, rounded to 2 decimals. */
  durationSeconds: number;
  sizeBytes: number;
  /** Codec name in ffmpeg's spelling: `h264`, `hevc`, `vp9`, `av1`, … */
  codec: string;
}

/** Which frame to extract and the size to scale it to. */
export interface ExtractFrameOptions {
  atSeconds: number;
  width: number;
  height: number;
}

const CODEC_NAMES: Record<string, string> = {
  avc1: 'h264', avc3: 'h264', hvc1: 'hevc', hev1: 'hevc', vp09: 'vp9', av01: 'av1', mp4v: 'mpeg4',
};
const MAX_MOOV_BYTES = 64 * 1024 * 1024;

/**
 * Probes a video. MP4/MOV files are read directly from their boxes (mvhd, tkhd, stsd); anything else, or an
 * MP4 whose boxes cannot be understood, is probed by parsing the stderr of `ffmpeg -i` (there is no ffprobe).
 */
export async function probeVideo(filePath: string, ffmpegPath: string): Promise<VideoInfo> {
  const { size } = await stat(filePath);
  const fromBoxes = await probeMp4Boxes(filePath).catch(() => undefined);
  const facts = fromBoxes ?? (await probeWithFfmpeg(filePath, ffmpegPath));
  return { ...facts, sizeBytes: size };
}

/**
 * Decodes the frame at `atSeconds`, scales it to `width`×`height` (area averaging) and returns its raw
 * RGB24 pixels (`width * height * 3` bytes). The frame is converted to RGB before scaling: this ffmpeg's
 * combined yuv420p→rgb24 downscale misplaces colour at large ratios, which would spoil frame comparisons.
 */
export async function extractFrame(filePath: string, ffmpegPath: string, options: ExtractFrameOptions): Promise<Buffer> {
  const { atSeconds, width, height } = options;
  const args = [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-ss', atSeconds.toFixed(3), '-i', `file:${filePath}`,
    '-frames:v', '1', '-vf', `format=rgb24,scale=${width}:${height}:flags=area`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1',
  ];
  const { stdout } = await runFfmpeg(ffmpegPath, args, true);
  const expected = width * height * 3;
  if (stdout.length !== expected) {
    throw new Error(`extractFrame: expected ${expected} bytes at ${atSeconds}s of ${filePath}, got ${stdout.length}`);
  }
  return stdout;
}

type ProbedFacts = Omit<VideoInfo, 'sizeBytes'>;

interface BoxHeader { type: string; start: number; headerSize: number; end: number }

/** Reads the box header at `offset` of a file or buffer region; undefined past the end or when malformed. */
function parseHeader(bytes: Buffer, offset: number, limit: number, base = 0): BoxHeader | undefined {
  if (offset + 8 > bytes.length) return undefined;
  let size = bytes.readUInt32BE(offset);
  let headerSize = 8;
  if (size === 1) {
    if (offset + 16 > bytes.length) return undefined;
    size = Number(bytes.readBigUInt64BE(offset + 8));
    headerSize = 16;
  } else if (size === 0) {
    size = limit - (base + offset);
  }
  if (size < headerSize) return undefined;
  return { type: bytes.toString('latin1', offset + 4, offset + 8), start: base + offset, headerSize, end: base + offset + size };
}

/** Children of a box held in `bytes` between `from` and `to` (buffer offsets). */
function childBoxes(bytes: Buffer, from: number, to: number): BoxHeader[] {
  const boxes: BoxHeader[] = [];
  for (let offset = from; offset < to;) {
    const box = parseHeader(bytes, offset, to);
    if (box === undefined || box.end > to) break;
    boxes.push(box);
    offset = box.end;
  }
  return boxes;
}

function child(bytes: Buffer, parent: BoxHeader, type: string): BoxHeader | undefined {
  return childBoxes(bytes, parent.start + parent.headerSize, parent.end).find((box) => box.type === type);
}

/** Finds the top-level `moov` box without reading the media data, then reads only that box. */
async function readMoov(file: FileHandle, fileSize: number): Promise<Buffer | undefined> {
  const header = Buffer.alloc(16);
  for (let offset = 0; offset + 8 <= fileSize;) {
    const { bytesRead } = await file.read(header, 0, 16, offset);
    const box = parseHeader(header.subarray(0, bytesRead), 0, fileSize, offset);
    if (box === undefined) return undefined;
    if (offset === 0 && !['ftyp', 'moov', 'mdat', 'free', 'wide', 'skip'].includes(box.type)) return undefined;
    if (box.type === 'moov') {
      const length = Math.min(box.end, fileSize) - box.start;
      if (length > MAX_MOOV_BYTES) return undefined;
      const moov = Buffer.alloc(length);
      await file.read(moov, 0, length, box.start);
      return moov;
    }
    offset = box.end;
  }
  return undefined;
}

async function probeMp4Boxes(filePath: string): Promise<ProbedFacts | undefined> {
  const file = await open(filePath, 'r');
  try {
    const moov = await readMoov(file, (await file.stat()).size);
    if (moov === undefined) return undefined;
    const root = parseHeader(moov, 0, moov.length);
    if (root === undefined) return undefined;
    const mvhd = child(moov, root, 'mvhd');
    if (mvhd === undefined) return undefined;
    const body = mvhd.start + mvhd.headerSize;
    const version = moov.readUInt8(body);
    const timescale = moov.readUInt32BE(body + (version === 1 ? 20 : 12));
    const duration = version === 1 ? Number(moov.readBigUInt64BE(body + 24)) : moov.readUInt32BE(body + 16);
    for (const trak of childBoxes(moov, root.start + root.headerSize, root.end).filter((box) => box.type === 'trak')) {
      const mdia = child(moov, trak, 'mdia');
      const hdlr = mdia && child(moov, mdia, 'hdlr');
      if (mdia === undefined || hdlr === undefined) continue;
      if (moov.toString('latin1', hdlr.start + hdlr.headerSize + 8, hdlr.start + hdlr.headerSize + 12) !== 'vide') continue;
      const stbl = ((minf) => minf && child(moov, minf, 'stbl'))(child(moov, mdia, 'minf'));
      const stsd = stbl && child(moov, stbl, 'stsd');
      const entry = stsd && parseHeader(moov, stsd.start + stsd.headerSize + 8, stsd.end);
      const tkhd = child(moov, trak, 'tkhd');
      let width = 0, height = 0;
      if (tkhd !== undefined) {
        const tkhdBody = tkhd.start + tkhd.headerSize;
        const sizeOffset = tkhdBody + (moov.readUInt8(tkhdBody) === 1 ? 88 : 76);
        width = Math.round(moov.readUInt32BE(sizeOffset) / 65536);
        height = Math.round(moov.readUInt32BE(sizeOffset + 4) / 65536);
      }
      if ((width === 0 || height === 0) && entry !== undefined) {
        width = moov.readUInt16BE(entry.start + 32);
        height = moov.readUInt16BE(entry.start + 34);
      }
      if (timescale === 0 || width === 0 || height === 0) return undefined;
      const fourcc = entry?.type ?? 'unknown';
      return { width, height, durationSeconds: round2(duration / timescale), codec: CODEC_NAMES[fourcc] ?? fourcc };
    }
    return undefined;
  } finally {
    await file.close();
  }
}

/** Parses `Duration: 00:00:10.00` and the first `Video: h264 (...), yuv420p(...), 1280x720` line of ffmpeg's stderr. */
async function probeWithFfmpeg(filePath: string, ffmpegPath: string): Promise<ProbedFacts> {
  const { stderr } = await runFfmpeg(ffmpegPath, ['-hide_banner', '-nostdin', '-i', `file:${filePath}`], false);
  const duration = /Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)/.exec(stderr);
  const videoLine = /Stream #[^\n]*?Video:\s*([^\s,]+)[^\n]*/.exec(stderr);
  const size = videoLine && /,\s*(\d{2,5})x(\d{2,5})[\s,]/.exec(`${videoLine[0]} `);
  if (duration === null || videoLine === null || size === null || size === undefined) {
    throw new Error(`probeVideo: ${filePath} is not a readable video: ${stderr.trim().split('\n').slice(-1)[0] ?? ''}`);
  }
  const [hours, minutes, seconds] = [duration[1], duration[2], duration[3]].map(Number) as [number, number, number];
  return {
    width: Number(size[1]),
    height: Number(size[2]),
    durationSeconds: round2(hours * 3600 + minutes * 60 + seconds),
    codec: videoLine[1] ?? 'unknown',
  };
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

/** Runs ffmpeg to completion; `mustSucceed` false tolerates the non-zero exit of `ffmpeg -i` without output. */
function runFfmpeg(ffmpegPath: string, args: string[], mustSucceed: boolean): Promise<{ stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(ffmpegPath, args, { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024, timeout: 60_000, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      const stderrText = stderr.toString('utf8');
      // A string `code` (ENOENT, EACCES…) means ffmpeg could not be started at all.
      if (error !== null && (mustSucceed || typeof error.code === 'string')) {
        reject(new Error(`ffmpeg failed: ${stderrText.trim() || error.message}`));
      } else {
        resolve({ stdout, stderr: stderrText });
      }
    });
  });
}

/** What ffmpeg reads from any image, video or audio file; a field is absent when the file has none. */
export interface MediaInfo {
  width?: number;
  height?: number;
  durationSeconds?: number;
}

/**
 * Reads the dimensions (first video or image stream) and the duration of a media file with
 * `ffmpeg -i`. Throws if ffmpeg finds no stream at all.
 */
export async function probeMedia(filePath: string, ffmpegPath: string): Promise<MediaInfo> {
  const { stderr } = await runFfmpeg(ffmpegPath, ['-hide_banner', '-nostdin', '-i', `file:${filePath}`], false);
  if (!/Stream #/.test(stderr)) {
    throw new Error(`probeMedia: ${filePath} has no readable stream: ${stderr.trim().split('\n').slice(-1)[0] ?? ''}`);
  }
  const info: MediaInfo = {};
  const duration = /Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)/.exec(stderr);
  if (duration) {
    const [hours, minutes, seconds] = [duration[1], duration[2], duration[3]].map(Number) as [number, number, number];
    info.durationSeconds = round2(hours * 3600 + minutes * 60 + seconds);
  }
  const videoLine = /Stream #[^\n]*?Video:[^\n]*/.exec(stderr);
  const size = videoLine && /,\s*(\d{1,5})x(\d{1,5})[\s,[]/.exec(`${videoLine[0]} `);
  if (size) {
    info.width = Number(size[1]);
    info.height = Number(size[2]);
  }
  return info;
}
