import { createRequire } from 'node:module';

/** The ffmpeg the service uses (RIVYA_FFMPEG_PATH or the npm-installed one). */
export const ffmpegPath: string =
  process.env['RIVYA_FFMPEG_PATH'] ?? (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string }).path;
