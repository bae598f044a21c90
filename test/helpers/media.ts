import { createRequire } from 'node:module';

/** The ffmpeg the service uses (RIVYA_FFMPEG_PATH or the npm-installed one). */
export const ffmpegPath: string =
  process.env['RIVYA_FFMPEG_PATH'] ?? (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string }).path;

/** Makes a small media file with ffmpeg's test sources: `kind` picks the source and format by extension. */
export async function makeMedia(path: string, source: 'image' | 'video' | 'audio', seconds = 2): Promise<string> {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const inputs: Record<typeof source, string[]> = {
    image: ['-f', 'lavfi', '-i', 'testsrc2=s=640x360', '-frames:v', '1'],
    video: ['-f', 'lavfi', '-i', `testsrc2=s=320x240:d=${seconds}`, '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast'],
    audio: ['-f', 'lavfi', '-i', `sine=d=${seconds}`],
  };
  await promisify(execFile)(ffmpegPath, ['-loglevel', 'error', '-y', ...inputs[source], path]);
  return path;
}

/** Mean absolute difference of two equal-length RGB buffers (0–255). */
export function meanAbsDiff(a: Buffer, b: Buffer): number {
  let total = 0;
  for (let i = 0; i < a.length; i++) total += Math.abs((a[i] ?? 0) - (b[i] ?? 0));
  return total / a.length;
}
