import { execFile } from 'node:child_process';
import { openAsBlob } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { outputDimensions, outputDurationSeconds } from '../catalog/models.js';
import type { Provider, ProviderStep } from './port.js';
import { callUpstream, downloadVideo, parseUpstreamJson, retryAfterSeconds, type UpstreamResponse } from './upstream-http.js';
import { failedJob, redactUpstreamText, refused, unavailable, unreadable, UpstreamError } from './upstream-error.js';

/** The `seconds` the OpenAI `/v1/videos` contract accepts; gateways may accept others. */
/** The `size`s of the contract, and the models that may ask for each. */
const SIZES: Readonly<Record<string, readonly string[]>> = {
  '1280x720': ['sora-2', 'sora-2-pro'],
  '720x1280': ['sora-2', 'sora-2-pro'],
  '1792x1024': ['sora-2-pro'],
  '1024x1792': ['sora-2-pro'],
};

export interface OpenAiVideosProviderConfig {
  name: string;
  apiKey: string;
  /** The API base including its version path, e.g. https://example.openai.azure.com/openai/v1 */
  baseUrl: string;
  /** `bearer` (Authorization: Bearer) or `api-key` (Azure's `api-key` header). */
  auth: 'bearer' | 'api-key';
  /** The `seconds` values this endpoint accepts; a task's `n_frames` must be one of them. */
  seconds: readonly string[];
  /** Our model id → the endpoint's model (or Azure deployment) name. */
  models: Readonly<Record<string, string>>;
  /**
   * Whether the endpoint honours `Idempotency-Key` (it is always sent): then a create whose answer
   * was lost is sent again at once; otherwise only after `resendAfterSeconds`.
   */
  idempotency: boolean;
  resendAfterSeconds: number;
  requestTimeoutMs: number;
  downloadTimeoutMs: number;
  maxResultBytes: number;
  /** Fits reference images to the output size, which the contract requires of `input_reference`. */
  ffmpegPath: string;
}

const run = promisify(execFile);

interface VideoObject {
  id?: unknown;
  status?: unknown;
  progress?: unknown;
  error?: { code?: unknown; message?: unknown } | null;
}

/**
 * An OpenAI-style `/v1/videos` endpoint (Azure OpenAI, or another gateway), one account.
 * `n_frames` maps to `seconds` and the output dimensions to `size`; what the endpoint cannot
 * express is refused (`refuses`), never quietly changed. Each task's create carries an
 * `Idempotency-Key`, so a create whose answer was lost is sent again without a second job.
 */
export function createOpenAiVideosProvider(config: OpenAiVideosProviderConfig): Provider {
  const base = config.baseUrl.replace(/\/+$/, '');
  const auth: Record<string, string> =
    config.auth === 'api-key' ? { 'api-key': config.apiKey } : { authorization: `Bearer ${config.apiKey}` };

  function unwrap(response: UpstreamResponse, operation: 'create' | 'status', hasReference: boolean): VideoObject {
    const status = response.status;
    // 401/403: the key; 404 on create: the deployment or path (an account's configuration); 408: slow.
    const accountProblem = status === 401 || status === 403 || (operation === 'create' && status === 404);
    if (status === 429 || status >= 500 || status === 408 || accountProblem) {
      throw unavailable(`http_${status}`, retryAfterSeconds(response.headers), redactUpstreamText(response.text, 300));
    }
    // 409: a request with this Idempotency-Key is still being processed: ask again later.
    if (status === 409 && operation === 'create') {
      throw new UpstreamError({
        message: 'The provider is still processing the submission.', reason: 'http_409', retryable: true, ambiguous: true,
        retryAfterSeconds: retryAfterSeconds(response.headers), detail: redactUpstreamText(response.text, 300),
      });
    }
    const body = parseUpstreamJson(response, operation === 'create') as (VideoObject & { error?: { code?: unknown; message?: unknown; param?: unknown } }) | null;
    if (status >= 200 && status < 300 && body && typeof body === 'object') return body;
    const error = body?.error ?? null;
    const code = typeof error?.code === 'string' ? error.code : '';
    const message = typeof error?.message === 'string' ? error.message : '';
    const param = typeof error?.param === 'string' ? error.param : '';
    throw refused(`http_${status}`, `${code} ${param}`, message, hasReference);
  }

  function requestFields(model: string, params: Readonly<Record<string, string>>): { seconds: string; size: string; model: string } {
    const { width, height } = outputDimensions(params);
    return { seconds: String(outputDurationSeconds(params)), size: `${width}x${height}`, model: config.models[model] ?? model };
  }

  /**
   * The contract takes a reference only at exactly the output size: the image is scaled to cover
   * it and centre-cropped (as the local renderer frames references), then sent as PNG.
   */
  async function fitReference(path: string, size: string, workDir: string, signal: AbortSignal): Promise<string> {
    const [width, height] = size.split('x');
    const fitted = join(workDir, 'reference-fitted.png');
    try {
      await run(config.ffmpegPath, [
        '-hide_banner', '-loglevel', 'error', '-y', '-i', path, '-frames:v', '1',
        '-vf', `scale=${width}:${height}:force_original_aspect_ratio=increase,crop=${width}:${height}`, fitted,
      ], { signal, timeout: 60_000 });
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw new UpstreamError({
        message: 'The reference image could not be prepared.', reason: 'reference_unreadable', retryable: false,
        taskCode: 'invalid_reference', detail: error instanceof Error ? error.message : String(error),
      });
    }
    return fitted;
  }

  return {
    name: config.name,
    kind: 'openai-videos',
    resendAfterSeconds: config.idempotency ? 0 : config.resendAfterSeconds,

    refuses(model, params) {
      const account = `${config.name} (openai-videos)`;
      if (!(model in config.models)) {
        return { param: 'model', message: `${model} is not offered.`, detail: `${account} does not offer ${model}.` };
      }
      const fields = requestFields(model, params);
      if (!config.seconds.includes(fields.seconds)) {
        return {
          param: 'n_frames',
          message: `n_frames ${fields.seconds} is not offered for ${model}.`,
          detail: `${account} accepts durations of ${config.seconds.join(', ')} seconds, not ${fields.seconds} (n_frames).`,
        };
      }
      if (!SIZES[fields.size]?.includes(model)) {
        return {
          param: 'size', message: `${fields.size} output is not offered for ${model}.`,
          detail: `${account} cannot make ${fields.size} videos with ${model}.`,
        };
      }
      return null;
    },

    async submit(task, context) {
      const fields = requestFields(task.model, task.params);
      const headers: Record<string, string> = { ...auth, 'idempotency-key': `rivya-${task.id}` };
      let body: string | FormData;
      const reference = context.referencePaths[0];
      if (reference) {
        const form = new FormData();
        form.set('model', fields.model);
        form.set('prompt', task.prompt);
        form.set('seconds', fields.seconds);
        form.set('size', fields.size);
        const fitted = await fitReference(reference, fields.size, context.workDir, context.signal);
        form.set('input_reference', await openAsBlob(fitted, { type: 'image/png' }), 'reference.png');
        body = form;
      } else {
        headers['content-type'] = 'application/json';
        body = JSON.stringify({ model: fields.model, prompt: task.prompt, seconds: fields.seconds, size: fields.size });
      }
      const response = await callUpstream({
        method: 'POST', url: `${base}/videos`, headers, body, timeoutMs: config.requestTimeoutMs, signal: context.signal,
      });
      const video = unwrap(response, 'create', task.referenceFiles.length > 0);
      if (typeof video.id !== 'string' || video.id === '') {
        throw unreadable('malformed_response', true);
      }
      return { state: 'submitted', upstreamId: video.id };
    },

    async poll(task, context): Promise<ProviderStep> {
      const id = encodeURIComponent(task.upstreamId);
      const video = unwrap(
        await callUpstream({ method: 'GET', url: `${base}/videos/${id}`, headers: auth, timeoutMs: config.requestTimeoutMs, signal: context.signal }),
        'status',
        task.referenceFiles.length > 0,
      );
      switch (video.status) {
        case 'queued':
          return { state: 'running', progress: null };
        case 'in_progress':
          return { state: 'running', progress: typeof video.progress === 'number' ? video.progress : null };
        case 'completed': {
          const videoPath = join(context.workDir, 'result.mp4');
          await downloadVideo(`${base}/videos/${id}/content?variant=video`, videoPath, {
            headers: auth, maxBytes: config.maxResultBytes, timeoutMs: config.downloadTimeoutMs, signal: context.signal,
          });
          return { state: 'succeeded', videoPath };
        }
        case 'failed': {
          const code = typeof video.error?.code === 'string' ? video.error.code : '';
          const message = typeof video.error?.message === 'string' ? video.error.message : '';
          return failedJob(code, message, task.referenceFiles.length > 0);
        }
        default:
          throw unreadable('unknown_state');
      }
    },

    async cancel(task) {
      await callUpstream({
        method: 'DELETE', url: `${base}/videos/${encodeURIComponent(task.upstreamId)}`, headers: auth,
        timeoutMs: config.requestTimeoutMs, signal: new AbortController().signal,
      });
    },
  };
}
