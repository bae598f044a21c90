import {
  bearerToken, createResultVideos, FaultQueue, jobPhase, jsonResponse, randomId, resultResponse, ScenarioQueue,
  startUpstreamServer, type MockRequest, type MockResponse, type RequestLogEntry, type Scenario, type UpstreamFault,
  type UpstreamJob, type UpstreamRoute,
} from './mock-upstream.js';

/**
 * A loopback mock of OpenAI's `/v1/videos` API (sora-2, sora-2-pro), written from its public reference:
 * create (JSON or multipart with an `input_reference` image), retrieve, download content and delete.
 * Also accepts Azure's `api-key` header.
 */

export type OpenAiVideoStatus = 'queued' | 'in_progress' | 'completed' | 'failed';
export type OpenAiVideoModel = 'sora-2' | 'sora-2-pro';
export type OpenAiVideoSize = '720x1280' | '1280x720' | '1024x1792' | '1792x1024';
/** Kie's `code` fault does not apply here. */
export type OpenAiFault = Exclude<UpstreamFault, { kind: 'code' }>;

/** The video object of the API. Times are unix seconds. */
export interface OpenAiVideo {
  id: string;
  object: 'video';
  model: OpenAiVideoModel;
  status: OpenAiVideoStatus;
  progress: number;
  created_at: number;
  completed_at: number | null;
  expires_at: number | null;
  size: OpenAiVideoSize;
  seconds: string;
  prompt: string;
  remixed_from_video_id: null;
  error: { code: string; message: string } | null;
}

/** The error envelope of every non-2xx answer. */
export interface OpenAiError {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** The `input_reference` file part a job was created with. */
export interface OpenAiInputReference {
  filename: string;
  /** The part's declared content type. */
  declaredType: string;
  /** The type sniffed from its bytes. */
  mimeType: 'image/png' | 'image/jpeg' | 'image/webp';
  bytes: number;
  width: number;
  height: number;
}

export interface OpenAiVideoJob extends UpstreamJob<OpenAiVideoStatus> {
  readonly model: OpenAiVideoModel;
  readonly size: OpenAiVideoSize;
  readonly contentType: 'json' | 'multipart';
  readonly inputReference: OpenAiInputReference | null;
  readonly idempotencyKey: string | null;
  readonly deleted: boolean;
}

export interface MockOpenAiVideosOptions {
  /** Default 'openai-test-key'; sent as `Authorization: Bearer …` or `api-key: …`. */
  apiKey?: string;
  /** Allowed `seconds` values; default ['4', '8', '12']. */
  seconds?: string[];
  /** Default `{ outcome: 'success', durationMs: 300, result: 'mp4' }`. */
  defaultScenario?: Scenario;
  /** `error.code` of a failed job whose scenario has no failCode; default 'moderation_blocked'. */
  contentPolicyCode?: string;
  /** Refuse an `input_reference` whose dimensions differ from `size`, as the real API does; default true. */
  checkReferenceSize?: boolean;
}

export interface MockOpenAiVideos {
  /** Base URL including `/v1`, e.g. `http://127.0.0.1:PORT/v1`. */
  readonly url: string;
  readonly jobs: readonly OpenAiVideoJob[];
  readonly requests: readonly RequestLogEntry[];
  /** Ids deleted through `DELETE /v1/videos/{id}`, in order. */
  readonly deleted: readonly string[];
  /** Queues `fault` for the next `times` requests to `route` ('cancel' is DELETE). */
  inject(route: UpstreamRoute, fault: OpenAiFault, times?: number): void;
  /** Queues scenarios for the next created jobs. */
  nextJobs(...scenarios: Scenario[]): void;
  /** Jobs actually created (idempotent replays do not count). */
  createCount(): number;
  /** Successful deletes. */
  cancelCount(): number;
  /** The video object of `id` now, or null when unknown. */
  video(id: string): OpenAiVideo | null;
  /** Stops the server, destroys open sockets and removes the result videos. */
  close(): Promise<void>;
}

interface OpenAiVideoJobRecord extends OpenAiVideoJob {
  deleted: boolean;
}

const MODELS: readonly OpenAiVideoModel[] = ['sora-2', 'sora-2-pro'];
const SIZES: Record<OpenAiVideoSize, { width: number; height: number; proOnly: boolean }> = {
  '720x1280': { width: 720, height: 1280, proOnly: false },
  '1280x720': { width: 1280, height: 720, proOnly: false },
  '1024x1792': { width: 1024, height: 1792, proOnly: true },
  '1792x1024': { width: 1792, height: 1024, proOnly: true },
};
const CREATE_FIELDS = new Set(['model', 'prompt', 'seconds', 'size', 'input_reference']);
const EXPIRY_SECONDS = 24 * 60 * 60;

/** Starts the OpenAI videos mock on an ephemeral loopback port. */
export async function startMockOpenAiVideos(options: MockOpenAiVideosOptions = {}): Promise<MockOpenAiVideos> {
  const apiKey = options.apiKey ?? 'openai-test-key';
  const allowedSeconds = options.seconds ?? ['4', '8', '12'];
  const contentPolicyCode = options.contentPolicyCode ?? 'moderation_blocked';
  const checkReferenceSize = options.checkReferenceSize ?? true;
  const faults = new FaultQueue<UpstreamRoute, OpenAiFault>();
  const scenarios = new ScenarioQueue(options.defaultScenario);
  const videos = createResultVideos();
  const jobs: OpenAiVideoJobRecord[] = [];
  const byIdempotencyKey = new Map<string, OpenAiVideoJobRecord>();
  const deleted: string[] = [];

  const statusAt = (job: OpenAiVideoJobRecord, now: number) => {
    const { phase, progress } = jobPhase(job.scenario, now - job.createdAt);
    const statuses = { waiting: 'queued', queued: 'queued', running: 'in_progress', succeeded: 'completed', failed: 'failed' } as const;
    return { status: statuses[phase], progress: phase === 'running' ? progress : phase === 'succeeded' ? 100 : 0 };
  };

  const videoAt = (job: OpenAiVideoJobRecord, now: number): OpenAiVideo => {
    const { status, progress } = statusAt(job, now);
    const done = status === 'completed' || status === 'failed';
    const completedAt = done ? unixSeconds(job.createdAt + (job.scenario.durationMs ?? 0)) : null;
    return {
      id: job.id,
      object: 'video',
      model: job.model,
      status,
      progress,
      created_at: unixSeconds(job.createdAt),
      completed_at: completedAt,
      expires_at: status === 'completed' && completedAt !== null ? completedAt + EXPIRY_SECONDS : null,
      size: job.size,
      seconds: String(job.seconds),
      prompt: String(job.body['prompt']),
      remixed_from_video_id: null,
      error: status === 'failed' ? failure(job.scenario, contentPolicyCode) : null,
    };
  };

  const findLive = (id: string | undefined) => jobs.find((job) => job.id === id && !job.deleted);

  const create = async (request: MockRequest): Promise<MockResponse> => {
    const idempotencyKey = headerValue(request.headers['idempotency-key']);
    const replay = idempotencyKey === null ? undefined : byIdempotencyKey.get(idempotencyKey);
    if (replay) return jsonResponse(200, videoAt(replay, Date.now()));
    const form = await readCreateForm(request);
    if ('error' in form) return form.error;
    const { fields, file } = form;
    for (const name of Object.keys(fields)) {
      if (!CREATE_FIELDS.has(name)) return invalid(`Unrecognized request argument supplied: ${name}`, name);
    }
    const { model = 'sora-2', prompt, seconds = '4', size = '720x1280' } = fields;
    if (typeof model !== 'string' || !MODELS.includes(model as OpenAiVideoModel)) {
      return invalid(`Invalid value for 'model': expected one of ${MODELS.map((m) => `'${m}'`).join(', ')}.`, 'model');
    }
    if (typeof prompt !== 'string' || prompt.trim() === '') return invalid("Missing required parameter: 'prompt'.", 'prompt');
    if (typeof seconds !== 'string' || !allowedSeconds.includes(seconds)) {
      return invalid(`Invalid value for 'seconds': expected one of ${allowedSeconds.map((s) => `'${s}'`).join(', ')}.`, 'seconds');
    }
    const dimensions = typeof size === 'string' ? SIZES[size as OpenAiVideoSize] : undefined;
    if (!dimensions || (dimensions.proOnly && model !== 'sora-2-pro')) {
      const allowed = Object.entries(SIZES).filter(([, d]) => model === 'sora-2-pro' || !d.proOnly).map(([s]) => `'${s}'`);
      return invalid(`Invalid value for 'size': ${model} supports ${allowed.join(', ')}.`, 'size');
    }
    if (fields['input_reference'] !== undefined) {
      return invalid("'input_reference' must be uploaded as a file in a multipart/form-data request.", 'input_reference');
    }
    let inputReference: OpenAiInputReference | null = null;
    if (file) {
      const image = imageInfo(file.bytes);
      if (!image) {
        return invalid(`Invalid file 'input_reference': unsupported mimetype ('${file.type}'). Supported file formats are 'image/jpeg', 'image/png', and 'image/webp'.`, 'input_reference');
      }
      if (checkReferenceSize && (image.width !== dimensions.width || image.height !== dimensions.height)) {
        return invalid('Inpaint image must match the requested width and height', 'input_reference');
      }
      inputReference = { filename: file.name, declaredType: file.type, bytes: file.bytes.length, ...image };
    }
    const job: OpenAiVideoJobRecord = {
      id: randomId('video_', 24),
      body: fields,
      get state() {
        return statusAt(job, Date.now()).status;
      },
      createdAt: Date.now(),
      scenario: scenarios.take(),
      width: dimensions.width,
      height: dimensions.height,
      seconds: Number(seconds),
      model: model as OpenAiVideoModel,
      size: size as OpenAiVideoSize,
      contentType: form.multipart ? 'multipart' : 'json',
      inputReference,
      idempotencyKey,
      deleted: false,
    };
    jobs.push(job);
    if (idempotencyKey !== null) byIdempotencyKey.set(idempotencyKey, job);
    return jsonResponse(200, videoAt(job, job.createdAt));
  };

  const server = await startUpstreamServer({
    faults,
    malformedBody: '{"id":"video_',
    route(method, path) {
      if (method === 'POST' && path === '/v1/videos') return 'create';
      if (/^\/v1\/videos\/[^/]+$/.test(path)) return method === 'GET' ? 'status' : method === 'DELETE' ? 'cancel' : null;
      if (method === 'GET' && /^\/v1\/videos\/[^/]+\/content$/.test(path)) return 'download';
      return null;
    },
    async handle(request, route) {
      const key = bearerToken(request.headers) ?? headerValue(request.headers['api-key']);
      if (key === null) return errorResponse(401, "You didn't provide an API key. Provide it in the Authorization header (Bearer) or the api-key header.", null, null);
      if (key !== apiKey) return errorResponse(401, 'Incorrect API key provided.', null, 'invalid_api_key');
      if (route === null) return errorResponse(404, `Invalid URL (${request.method} ${request.url.pathname})`, null, null);
      if (route === 'create') return create(request);
      const id = request.url.pathname.split('/')[3];
      const job = findLive(id);
      if (!job) return errorResponse(404, `Video with id '${id}' not found.`, null, 'not_found');
      if (route === 'status') return jsonResponse(200, videoAt(job, Date.now()));
      if (route === 'cancel') {
        job.deleted = true;
        deleted.push(job.id);
        return jsonResponse(200, { id: job.id, object: 'video.deleted', deleted: true });
      }
      const variant = request.url.searchParams.get('variant') ?? 'video';
      if (variant !== 'video') return invalid(`Invalid value for 'variant': this mock serves only 'video'.`, 'variant');
      if (job.state !== 'completed') {
        return errorResponse(400, 'Video is not ready yet, use GET /v1/videos/{video_id} to check status.', null, 'video_not_ready');
      }
      return resultResponse(job, videos, errorResponse(404, `Content for video '${job.id}' not found.`, null, 'not_found'));
    },
  });

  return {
    url: `${server.origin}/v1`,
    jobs,
    requests: server.requests,
    deleted,
    inject: (route, fault, times = 1) => faults.inject(route, fault, times),
    nextJobs: (...next) => scenarios.push(...next),
    createCount: () => jobs.length,
    cancelCount: () => deleted.length,
    video(id) {
      const job = findLive(id);
      return job ? videoAt(job, Date.now()) : null;
    },
    async close() {
      await server.close();
      await videos.dispose();
    },
  };
}

/** The error of a failed job: its scenario's code, or the content-policy code. */
function failure(scenario: Readonly<Scenario>, contentPolicyCode: string): { code: string; message: string } {
  const code = scenario.failCode ?? contentPolicyCode;
  const fallback = code === contentPolicyCode ? 'Your request was blocked by our moderation system.' : 'Video generation failed.';
  return { code, message: scenario.failMsg ?? fallback };
}

function errorResponse(status: number, message: string, param: string | null, code: string | null): MockResponse {
  return jsonResponse(status, { error: { message, type: 'invalid_request_error', param, code } } satisfies OpenAiError);
}

function invalid(message: string, param: string): MockResponse {
  return errorResponse(400, message, param, null);
}

function headerValue(value: string | string[] | undefined): string | null {
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? null : first;
}

function unixSeconds(ms: number): number {
  return Math.floor(ms / 1000);
}

interface CreateForm {
  multipart: boolean;
  fields: Record<string, unknown>;
  file: { name: string; type: string; bytes: Buffer } | null;
}

/** The create request's fields (JSON object, or multipart text fields plus the `input_reference` file). */
async function readCreateForm(request: MockRequest): Promise<CreateForm | { error: MockResponse }> {
  const contentType = headerValue(request.headers['content-type']) ?? '';
  if (/^application\/json\b/i.test(contentType)) {
    let body: unknown;
    try {
      body = JSON.parse(request.body.toString('utf8'));
    } catch {
      return { error: errorResponse(400, 'We could not parse the JSON body of your request.', null, null) };
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return { error: errorResponse(400, 'The request body must be a JSON object.', null, null) };
    }
    return { multipart: false, fields: body as Record<string, unknown>, file: null };
  }
  if (/^multipart\/form-data\b/i.test(contentType)) {
    let form: FormData;
    try {
      form = await new Request('http://mock.invalid/', { method: 'POST', headers: { 'content-type': contentType }, body: request.body }).formData();
    } catch {
      return { error: errorResponse(400, 'Could not parse the multipart form.', null, null) };
    }
    const fields: Record<string, unknown> = {};
    let file: CreateForm['file'] = null;
    for (const [name, value] of form.entries()) {
      if (typeof value === 'string') fields[name] = value;
      else if (name === 'input_reference') file = { name: value.name, type: value.type, bytes: Buffer.from(await value.arrayBuffer()) };
      else return { error: invalid(`Unexpected file field: ${name}`, name) };
    }
    return { multipart: true, fields, file };
  }
  return { error: errorResponse(400, `Unsupported content type '${contentType}': use application/json or multipart/form-data.`, null, null) };
}

/** The type and dimensions of a PNG, JPEG or WebP image, or null for anything else. */
function imageInfo(bytes: Buffer): Pick<OpenAiInputReference, 'mimeType' | 'width' | 'height'> | null {
  if (bytes.length >= 24 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    return { mimeType: 'image/png', width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
  }
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) {
    let offset = 2;
    while (offset + 9 <= bytes.length && bytes[offset] === 0xff) {
      const marker = bytes[offset + 1] ?? 0;
      if (marker === 0xff) {
        offset += 1;
        continue;
      }
      const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
      if (isSof) return { mimeType: 'image/jpeg', width: bytes.readUInt16BE(offset + 7), height: bytes.readUInt16BE(offset + 5) };
      offset += 2 + bytes.readUInt16BE(offset + 2);
    }
    return null;
  }
  if (bytes.length >= 30 && bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP') {
    const chunk = bytes.toString('latin1', 12, 16);
    if (chunk === 'VP8 ') return { mimeType: 'image/webp', width: bytes.readUInt16LE(26) & 0x3fff, height: bytes.readUInt16LE(28) & 0x3fff };
    if (chunk === 'VP8X') return { mimeType: 'image/webp', width: 1 + bytes.readUIntLE(24, 3), height: 1 + bytes.readUIntLE(27, 3) };
    if (chunk === 'VP8L') {
      const bits = bytes.readUInt32LE(21);
      return { mimeType: 'image/webp', width: 1 + (bits & 0x3fff), height: 1 + ((bits >> 14) & 0x3fff) };
    }
  }
  return null;
}
