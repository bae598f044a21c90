import { join } from 'node:path';
import type { TaskRecord } from '../domain.js';
import type { Provider, ProviderContext, ProviderStep } from './port.js';
import { callUpstream, downloadVideo, parseUpstreamJson, retryAfterSeconds, type UpstreamResponse } from './upstream-http.js';
import { failedJob, redactUpstreamText, refused, unavailable, unreadable, UpstreamError } from './upstream-error.js';

export interface KieProviderConfig {
  name: string;
  apiKey: string;
  /** e.g. https://api.kie.ai */
  baseUrl: string;
  /** Per HTTP call. */
  requestTimeoutMs: number;
  /** Result downloads may take longer than calls. */
  downloadTimeoutMs: number;
  maxResultBytes: number;
  /** The URL Kie calls when the job ends; null sends none (polling only). */
  callbackUrl: ((taskId: string) => string) | null;
  /** After a create whose answer was lost: how long to wait for its callback before sending it again. */
  resendAfterSeconds: number;
}

interface KieEnvelope {
  code?: unknown;
  msg?: unknown;
  data?: unknown;
}

interface KieRecord {
  taskId?: unknown;
  state?: unknown;
  param?: unknown;
  resultJson?: unknown;
  failCode?: unknown;
  failMsg?: unknown;
  progress?: unknown;
}

/** Kie's body codes that mean "not now or not with this account": another account or a later try may work. */
const RETRYABLE_CODES = new Set([401, 402, 403, 429, 430, 455, 500, 502, 503, 504, 505]);

/**
 * A failure's reason for a Kie body code: `code_<n>` for a code shaped like an HTTP status (Kie's
 * own are), `code_other` for anything else, so an upstream cannot make metric series at will.
 * The code itself goes to the failure's detail.
 */
function codeReason(code: number): string {
  return Number.isInteger(code) && code >= 100 && code <= 999 ? `code_${code}` : 'code_other';
}

/** Kie.ai's job API (`/api/v1/jobs/createTask`, `/api/v1/jobs/recordInfo`), one account. */
export function createKieProvider(config: KieProviderConfig): Provider {
  const base = config.baseUrl.replace(/\/+$/, '');
  const headers = { authorization: `Bearer ${config.apiKey}`, 'content-type': 'application/json' };

  /** Reads Kie's `{code, msg, data}` envelope; HTTP and body codes both decide. */
  function unwrap(response: UpstreamResponse, operation: 'create' | 'status', hasReference: boolean): unknown {
    if (response.status === 429 || response.status >= 500 || response.status === 401 || response.status === 403) {
      throw unavailable(`http_${response.status}`, retryAfterSeconds(response.headers), redactUpstreamText(response.text, 200));
    }
    const body = parseUpstreamJson(response, operation === 'create') as KieEnvelope | null;
    const code = typeof body?.code === 'number' ? body.code : response.status;
    const msg = typeof body?.msg === 'string' ? body.msg : '';
    if (code === 200 && response.status < 300) return body?.data;
    if (RETRYABLE_CODES.has(code)) throw unavailable(`code_${code}`, retryAfterSeconds(response.headers), redactUpstreamText(msg));
    throw refused(codeReason(code), String(code), msg, hasReference);
  }

  function createBody(task: TaskRecord, context: ProviderContext): Record<string, unknown> {
    const mode = context.referenceUrls.length > 0 ? 'image-to-video' : 'text-to-video';
    const params = task.params;
    const input: Record<string, unknown> = {
      prompt: task.prompt,
      aspect_ratio: params['aspect_ratio'] ?? 'landscape',
      n_frames: params['n_frames'] ?? '10',
      remove_watermark: params['remove_watermark'] === 'true',
    };
    if (params['size']) input['size'] = params['size'];
    if (params['upload_method']) input['upload_method'] = params['upload_method'];
    if (context.referenceUrls.length > 0) input['image_urls'] = [...context.referenceUrls];
    return {
      model: `${task.model}-${mode}`,
      ...(config.callbackUrl ? { callBackUrl: config.callbackUrl(task.id) } : {}),
      input,
    };
  }

  async function record(upstreamId: string, signal: AbortSignal, hasReference: boolean): Promise<KieRecord> {
    const response = await callUpstream({
      method: 'GET', url: `${base}/api/v1/jobs/recordInfo?taskId=${encodeURIComponent(upstreamId)}`,
      headers, timeoutMs: config.requestTimeoutMs, signal,
    });
    const data = unwrap(response, 'status', hasReference);
    if (!data || typeof data !== 'object') throw unreadable('malformed_record');
    return data;
  }

  return {
    name: config.name,
    kind: 'kie',
    resendAfterSeconds: config.resendAfterSeconds,

    /** Kie's Sora 2 jobs take every parameter of the catalog as it is. */
    refuses(model) {
      return model === 'sora-2' || model === 'sora-2-pro'
        ? null
        : { param: 'model', message: `${model} is not offered.`, detail: `${config.name} (kie) does not offer ${model}.` };
    },

    async submit(task, context) {
      const response = await callUpstream({
        method: 'POST', url: `${base}/api/v1/jobs/createTask`, headers,
        body: JSON.stringify(createBody(task, context)), timeoutMs: config.requestTimeoutMs, signal: context.signal,
      });
      const data = unwrap(response, 'create', task.referenceFiles.length > 0) as { taskId?: unknown } | null;
      if (typeof data?.taskId !== 'string' || data.taskId === '') throw unreadable('malformed_response', true);
      return { state: 'submitted', upstreamId: data.taskId };
    },

    async poll(task, context): Promise<ProviderStep> {
      const hasReference = task.referenceFiles.length > 0;
      const job = await record(task.upstreamId, context.signal, hasReference);
      switch (job.state) {
        case 'waiting':
        case 'queuing':
          return { state: 'running', progress: null };
        case 'generating':
          return { state: 'running', progress: typeof job.progress === 'number' ? job.progress : null };
        case 'success': {
          const url = resultUrl(job.resultJson);
          if (!url) {
            throw new UpstreamError({
              message: 'The provider reported success without a result video.', reason: 'missing_result', retryable: false,
            });
          }
          const videoPath = join(context.workDir, 'result.mp4');
          await downloadVideo(url, videoPath, {
            maxBytes: config.maxResultBytes, timeoutMs: config.downloadTimeoutMs, signal: context.signal,
          });
          return { state: 'succeeded', videoPath };
        }
        case 'fail':
          return failedJob(text(job.failCode), text(job.failMsg), hasReference);
        default:
          throw unreadable('unknown_state', false, redactUpstreamText(text(job.state), 50));
      }
    },

    /** Kie's job API has no cancel: the job runs to its end and is not downloaded. */
    async cancel() {},

    /** The job is this task's if Kie's own record of it carries this task's callback URL. */
    async adopt(task, upstreamId, signal) {
      if (!config.callbackUrl || !/^[\w-]{1,128}$/.test(upstreamId)) return false;
      const job = await record(upstreamId, signal, false);
      const param = jobParam(job.param);
      const expected = new URL(config.callbackUrl(task.id));
      const given = typeof param?.callBackUrl === 'string' ? parseUrl(param.callBackUrl) : null;
      return (
        given !== null &&
        given.origin + given.pathname === expected.origin + expected.pathname &&
        typeof param?.model === 'string' && param.model.startsWith(`${task.model}-`)
      );
    },
  };
}

/** The first URL of Kie's `resultJson` (a JSON string `{"resultUrls": [...]}`), if any. */
function resultUrl(resultJson: unknown): string | null {
  try {
    const parsed = (typeof resultJson === 'string' ? JSON.parse(resultJson) : resultJson) as { resultUrls?: unknown } | null;
    const first = Array.isArray(parsed?.resultUrls) ? (parsed.resultUrls[0] as unknown) : null;
    return typeof first === 'string' && /^https?:\/\//.test(first) ? first : null;
  } catch {
    return null;
  }
}

/** A field that should be text (Kie sends codes as strings or numbers). */
function text(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
}

function parseUrl(raw: string): URL | null {
  try {
    return new URL(raw);
  } catch {
    return null;
  }
}

/** Kie's `param`: the create request as it received it (a JSON string). */
function jobParam(raw: unknown): { callBackUrl?: unknown; model?: unknown } | null {
  try {
    const parsed = (typeof raw === 'string' ? JSON.parse(raw) : raw) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed) : null;
  } catch {
    return null;
  }
}
