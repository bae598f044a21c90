import { execFile } from 'node:child_process';
import { mkdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { outputDimensions, outputDurationSeconds } from '../catalog/models.js';
import type { Provider } from './port.js';

const run = promisify(execFile);

export interface InstantProviderConfig {
  ffmpegPath: string;
  /** Where the one clip per (dimensions, duration) is rendered and kept. */
  cacheDir: string;
}

/**
 * A provider that answers at once with a plain clip of the right dimensions and duration,
 * rendered once and reused. For benchmarks and tests that measure the service, not the renderer.
 */
export function createInstantProvider(config: InstantProviderConfig): Provider {
  const pending = new Map<string, Promise<string>>();
  const clipFor = (width: number, height: number, seconds: number): Promise<string> => {
    const name = `${width}x${height}-${seconds}s.mp4`;
    let clip = pending.get(name);
    if (!clip) {
      clip = (async () => {
        const path = join(config.cacheDir, name);
        if (await stat(path).catch(() => null)) return path;
        await mkdir(config.cacheDir, { recursive: true });
        const temp = `${path}.${process.pid}.tmp.mp4`;
        await run(config.ffmpegPath, [
          '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `color=c=0x336699:s=${width}x${height}:r=4:d=${seconds}`,
          '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-movflags', '+faststart', temp,
        ]);
        await rename(temp, path);
        return path;
      })();
      clip.catch(() => pending.delete(name));
      pending.set(name, clip);
    }
    return clip;
  };
  return {
    name: 'instant',
    kind: 'instant',
    resendAfterSeconds: 0,
    refuses: () => null,
    async submit(task) {
      const { width, height } = outputDimensions(task.params);
      return { state: 'succeeded', videoPath: await clipFor(width, height, outputDurationSeconds(task.params)) };
    },
    async poll() {
      return { state: 'failed', code: 'internal_error', message: 'The instant provider has no upstream job to poll.' };
    },
    async cancel() {},
  };
}
