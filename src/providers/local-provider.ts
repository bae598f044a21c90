import { join } from 'node:path';
import { outputDimensions, outputDurationSeconds } from '../catalog/models.js';
import { renderVideo } from '../media/local-renderer.js';
import type { Provider } from './port.js';

export interface LocalProviderConfig {
  ffmpegPath: string;
  /** Font for the prompt text; the usual system fonts otherwise. */
  fontPath?: string | undefined;
}

/**
 * The built-in renderer: a real H.264 MP4 of the task's duration and dimensions, drawn by ffmpeg
 * from the prompt, watermarked unless `remove_watermark`, animating the reference image if any.
 */
export function createLocalProvider(config: LocalProviderConfig): Provider {
  return {
    name: 'local',
    kind: 'local',
    resendAfterSeconds: 0,
    refuses: () => null,
    async submit(task, context) {
      const { width, height } = outputDimensions(task.params);
      const videoPath = join(context.workDir, 'video.mp4');
      await renderVideo(
        {
          prompt: task.prompt,
          width,
          height,
          durationSeconds: outputDurationSeconds(task.params),
          watermark: task.params['remove_watermark'] !== 'true',
          referenceImagePath: context.referencePaths[0],
        },
        {
          ffmpegPath: config.ffmpegPath,
          fontPath: config.fontPath,
          outputPath: videoPath,
          signal: context.signal,
          onProgress: (fraction) => context.reportProgress(Math.min(99, Math.floor(fraction * 100))),
        },
      );
      return { state: 'succeeded', videoPath };
    },
    async poll() {
      // The local renderer finishes inside submit; a resumed task is rendered again from the start.
      return { state: 'failed', code: 'internal_error', message: 'The local renderer has no upstream job to poll.' };
    },
    async cancel() {
      // Rendering stops through the context's signal.
    },
  };
}
