import { setTimeout as sleep } from 'node:timers/promises';
import {
  bearerToken, createResultVideos, FaultQueue, jobPhase, jsonResponse, randomId, resultResponse, ScenarioQueue,
  startUpstreamServer, type MockRequest, type MockResponse, type RequestLogEntry, type Scenario, type UpstreamFault,
  type UpstreamJob, type UpstreamRoute, type UpstreamServer,
} from './mock-upstream.js';

/**
 * A loopback mock of Kie.ai's jobs API for sora-2 (createTask, recordInfo, result URLs, callbacks), written
 * from its public documentation. Kie answers HTTP 200 for most errors and puts the real code in the body.
 */

export type KieModel = 'sora-2-text-to-video' | 'sora-2-image-to-video' | 'sora-2-pro-text-to-video' | 'sora-2-pro-image-to-video';
export type KieState = 'waiting' | 'queuing' | 'generating' | 'success' | 'fail';
/** Kie has no cancel endpoint. */
export type KieRoute = Exclude<UpstreamRoute, 'cancel'>;

const KIE_MODELS: readonly KieModel[] = ['sora-2-text-to-video', 'sora-2-image-to-video', 'sora-2-pro-text-to-video', 'sora-2-pro-image-to-video'];

/** One download of an `image_urls` entry by the mock, as an image-to-video job starts. */
export interface KieImageFetch {
  url: string;
  /** 0 when the fetch failed at the network level. */
  status: number;
  contentType: string | null;
  bytes: number;
}

export interface KieJob extends UpstreamJob<KieState> {
  readonly model: KieModel;
  readonly callBackUrl: string | null;
  readonly imageFetches: readonly KieImageFetch[];
}

/** `data` of recordInfo, and of a callback. Times are epoch milliseconds. */
export interface KieRecordInfo {
  taskId: string;
  model: KieModel;
  state: KieState;
  /** The create request body, as a JSON string. */
  param: string;
  /** `{"resultUrls":["…"]}` as a JSON string on success, else ''. */
  resultJson: string;
  failCode: string;
  failMsg: string;
  costTime: number | null;
  completeTime: number | null;
  createTime: number;
  updateTime: number;
}

/** Kie's body envelope. */
export interface KieEnvelope<Data> {
  code: number;
  msg: string;
  data: Data;
}

/** One callback POST the mock made. `status` is 0 when it could not be delivered. */
export interface KieCallback {
  url: string;
  status: number;
  payload: KieEnvelope<KieRecordInfo>;
}

export interface MockKieOptions {
  /** Default 'kie-test-key'. */
  apiKey?: string;
  /** Default `{ outcome: 'success', durationMs: 300, result: 'mp4' }`. */
  defaultScenario?: Scenario;
}

export interface MockKie {
  /** Base URL, e.g. `http://127.0.0.1:PORT`; the API is under `/api/v1/jobs/`. */
  readonly url: string;
  readonly jobs: readonly KieJob[];
  readonly requests: readonly RequestLogEntry[];
  readonly callbacks: readonly KieCallback[];
  /** Queues `fault` for the next `times` requests to `route`. */
  inject(route: KieRoute, fault: UpstreamFault, times?: number): void;
  /** Queues scenarios for the next created jobs. */
  nextJobs(...scenarios: Scenario[]): void;
  /** Jobs actually created. */
  createCount(): number;
  /** What recordInfo would answer for `taskId` now, or null when unknown. */
  record(taskId: string): KieRecordInfo | null;
  /** Stops the server, destroys open sockets, stops pending callbacks and removes the result videos. */
  close(): Promise<void>;
}

interface KieJobRecord extends KieJob {
  imageFetches: KieImageFetch[];
  /** Set when an image could not be downloaded. */
  imageError: string | null;
  /** When the image downloads ended (at creation for text-to-video); null while they run. */
  imageSettledAt: number | null;
}

interface KieCreateRequest {
  model: KieModel;
  callBackUrl: string | null;
  aspectRatio: 'landscape' | 'portrait';
  nFrames: '10' | '15';
  size: 'standard' | 'high';
  imageUrls: string[];
}

const IMAGE_FETCH_TIMEOUT_MS = 10_000;
const CALLBACK_TIMEOUT_MS = 5_000;

/** Starts the Kie mock on an ephemeral loopback port. */
export async function startMockKie(options: MockKieOptions = {}): Promise<MockKie> {
  const apiKey = options.apiKey ?? 'kie-test-key';
  const faults = new FaultQueue<UpstreamRoute, UpstreamFault>();
  const scenarios = new ScenarioQueue(options.defaultScenario);
  const videos = createResultVideos();
  const jobs: KieJobRecord[] = [];
  const callbacks: KieCallback[] = [];
  let origin = '';

  const envelope = <Data>(code: number, msg: string, data: Data) => jsonResponse(200, { code, msg, data } satisfies KieEnvelope<Data>);
  const failure = (code: number, msg: string) => envelope(code, msg, null);

  /** The job's scenario, turned into a 422 failure when its image could not be downloaded. */
  const effectiveScenario = (job: KieJobRecord): Scenario =>
    job.imageError ? { ...job.scenario, outcome: 'fail', failCode: '422', failMsg: job.imageError } : job.scenario;

  const finishTime = (job: KieJobRecord) => Math.max(job.createdAt + (job.scenario.durationMs ?? 0), job.imageSettledAt ?? Infinity);

  const stateAt = (job: KieJobRecord, now: number): KieState => {
    const { phase } = jobPhase(effectiveScenario(job), now - job.createdAt, job.imageSettledAt !== null);
    const states = { waiting: 'waiting', queued: 'queuing', running: 'generating', succeeded: 'success', failed: 'fail' } as const;
    return states[phase];
  };

  const recordAt = (job: KieJobRecord, now: number): KieRecordInfo => {
    const state = stateAt(job, now);
    const done = state === 'success' || state === 'fail';
    const scenario = effectiveScenario(job);
    const completeTime = done ? finishTime(job) : null;
    return {
      taskId: job.id,
      model: job.model,
      state,
      param: JSON.stringify(job.body),
      resultJson: state === 'success' ? JSON.stringify({ resultUrls: [`${origin}/results/${job.id}.mp4`] }) : '',
      failCode: state === 'fail' ? (scenario.failCode ?? '500') : '',
      failMsg: state === 'fail' ? (scenario.failMsg ?? 'Internal error, please try again later.') : '',
      costTime: completeTime === null ? null : completeTime - job.createdAt,
      completeTime,
      createTime: job.createdAt,
      updateTime: completeTime ?? now,
    };
  };

  const fetchImages = async (job: KieJobRecord, urls: readonly string[], signal: AbortSignal) => {
    for (const url of urls) {
      const fetched: KieImageFetch = { url, status: 0, contentType: null, bytes: 0 };
      job.imageFetches.push(fetched);
      try {
        const response = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(IMAGE_FETCH_TIMEOUT_MS)]) });
        fetched.status = response.status;
        fetched.contentType = response.headers.get('content-type');
        fetched.bytes = (await response.arrayBuffer()).byteLength;
      } catch {
        // status stays 0
      }
      if (fetched.status !== 200 || !fetched.contentType?.toLowerCase().startsWith('image/')) {
        job.imageError = 'image could not be downloaded';
        break;
      }
    }
    job.imageSettledAt = Date.now();
  };

  const deliverCallback = async (job: KieJobRecord, imagesFetched: Promise<void>, signal: AbortSignal) => {
    await sleep(job.scenario.durationMs ?? 0, undefined, { signal });
    await imagesFetched;
    if (signal.aborted || !job.callBackUrl) return;
    const record = recordAt(job, Math.max(Date.now(), finishTime(job)));
    if (record.state !== 'success' && record.state !== 'fail') return;
    const payload: KieEnvelope<KieRecordInfo> = record.state === 'success'
      ? { code: 200, msg: 'Playground task completed successfully.', data: record }
      : { code: 501, msg: record.failMsg, data: record };
    let status = 0;
    try {
      const response = await fetch(job.callBackUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(payload),
        signal: AbortSignal.any([signal, AbortSignal.timeout(CALLBACK_TIMEOUT_MS)]),
      });
      status = response.status;
      await response.arrayBuffer();
    } catch {
      // recorded with status 0
    }
    if (!signal.aborted) callbacks.push({ url: job.callBackUrl, status, payload });
  };

  const createTask = (request: MockRequest, signal: AbortSignal): MockResponse => {
    let body: unknown;
    try {
      body = JSON.parse(request.body.toString('utf8'));
    } catch {
      return failure(422, 'Request body is not valid JSON');
    }
    const parsed = parseCreate(body);
    if (typeof parsed === 'string') return failure(422, parsed);
    const pro = parsed.model.startsWith('sora-2-pro');
    const big = pro && parsed.size === 'high';
    const [width, height] = parsed.aspectRatio === 'landscape' ? (big ? [1792, 1024] : [1280, 720]) : big ? [1024, 1792] : [720, 1280];
    const job: KieJobRecord = {
      id: randomId('kie_', 12),
      body: body as Record<string, unknown>,
      get state() {
        return stateAt(job, Date.now());
      },
      createdAt: Date.now(),
      scenario: scenarios.take(),
      width,
      height,
      seconds: Number(parsed.nFrames),
      model: parsed.model,
      callBackUrl: parsed.callBackUrl,
      imageFetches: [],
      imageError: null,
      imageSettledAt: null,
    };
    jobs.push(job);
    let imagesFetched = Promise.resolve();
    if (parsed.imageUrls.length > 0) imagesFetched = fetchImages(job, parsed.imageUrls, signal);
    else job.imageSettledAt = job.createdAt;
    deliverCallback(job, imagesFetched, signal).catch(() => undefined);
    return envelope(200, 'success', { taskId: job.id });
  };

  const server: UpstreamServer = await startUpstreamServer({
    faults,
    malformedBody: '{"code":200,"msg":"success","data":',
    route(method, path) {
      if (method === 'POST' && path === '/api/v1/jobs/createTask') return 'create';
      if (method === 'GET' && path === '/api/v1/jobs/recordInfo') return 'status';
      if (method === 'GET' && path.startsWith('/results/')) return 'download';
      return null;
    },
    async handle(request, route) {
      if (route === 'download') {
        const notFound: MockResponse = { status: 404, headers: { 'content-type': 'text/plain' }, body: 'Not Found' };
        const id = /^\/results\/([^/]+)\.mp4$/.exec(request.url.pathname)?.[1];
        const job = jobs.find((candidate) => candidate.id === id);
        if (!job || job.state !== 'success') return notFound;
        return resultResponse(job, videos, notFound);
      }
      if (route === null) return jsonResponse(404, { code: 404, msg: 'Not Found', data: null });
      if (bearerToken(request.headers) !== apiKey) return failure(401, 'You do not have access permissions');
      if (route === 'create') return createTask(request, server.signal);
      const taskId = request.url.searchParams.get('taskId');
      if (!taskId) return failure(422, 'taskId is required');
      const job = jobs.find((candidate) => candidate.id === taskId);
      if (!job) return failure(422, 'recordInfo is null');
      return envelope(200, 'success', recordAt(job, Date.now()));
    },
  });
  origin = server.origin;

  return {
    url: origin,
    jobs,
    requests: server.requests,
    callbacks,
    inject: (route, fault, times = 1) => faults.inject(route, fault, times),
    nextJobs: (...next) => scenarios.push(...next),
    createCount: () => jobs.length,
    record(taskId) {
      const job = jobs.find((candidate) => candidate.id === taskId);
      return job ? recordAt(job, Date.now()) : null;
    },
    async close() {
      await server.close();
      await videos.dispose();
    },
  };
}

/** The create request, or what is wrong with it (Kie's 422 `msg`). */
function parseCreate(body: unknown): KieCreateRequest | string {
  if (!isObject(body)) return 'Request body must be a JSON object';
  const { model, callBackUrl, input } = body;
  if (typeof model !== 'string' || !KIE_MODELS.includes(model as KieModel)) return `model must be one of ${KIE_MODELS.join(', ')}`;
  const kieModel = model as KieModel;
  if (callBackUrl !== undefined && (typeof callBackUrl !== 'string' || !isHttpUrl(callBackUrl))) return 'callBackUrl must be an http(s) URL';
  if (!isObject(input)) return 'input is required';
  const { prompt, aspect_ratio = 'landscape', n_frames = '10', size, remove_watermark, upload_method, image_urls } = input;
  if (typeof prompt !== 'string' || prompt.trim() === '') return 'input.prompt is required';
  if (prompt.length > 10_000) return 'input.prompt must be at most 10000 characters';
  if (aspect_ratio !== 'landscape' && aspect_ratio !== 'portrait') return 'input.aspect_ratio must be one of landscape, portrait';
  if (n_frames !== '10' && n_frames !== '15') return 'input.n_frames must be one of "10", "15"';
  const pro = kieModel.startsWith('sora-2-pro');
  if (size !== undefined && !pro) return `input.size is not supported by ${kieModel}`;
  if (size !== undefined && size !== 'standard' && size !== 'high') return 'input.size must be one of standard, high';
  if (remove_watermark !== undefined && typeof remove_watermark !== 'boolean') return 'input.remove_watermark must be a boolean';
  if (upload_method !== undefined && upload_method !== 's3' && upload_method !== 'oss') return 'input.upload_method must be one of s3, oss';
  const imageToVideo = kieModel.endsWith('image-to-video');
  if (imageToVideo) {
    if (!Array.isArray(image_urls) || image_urls.length === 0) return `input.image_urls is required for ${kieModel}`;
    if (!image_urls.every((url): url is string => typeof url === 'string' && isHttpUrl(url))) return 'input.image_urls must be http(s) URLs';
  } else if (image_urls !== undefined) {
    return `input.image_urls is not supported by ${kieModel}`;
  }
  return {
    model: kieModel,
    callBackUrl: typeof callBackUrl === 'string' ? callBackUrl : null,
    aspectRatio: aspect_ratio,
    nFrames: n_frames,
    size: size ?? 'standard',
    imageUrls: imageToVideo ? (image_urls as string[]) : [],
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isHttpUrl(value: string): boolean {
  return URL.canParse(value) && /^https?:$/.test(new URL(value).protocol);
}
