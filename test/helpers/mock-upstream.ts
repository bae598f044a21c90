import { execFile } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { ffmpegPath } from './media.js';

/**
 * Shared pieces of the loopback upstream mocks (mock-kie.ts, mock-openai-videos.ts): fault injection
 * per route, job scenarios, the job clock, result media and the HTTP server that ties them together.
 */

/** The incoming routes a fault can be queued for. */
export type UpstreamRoute = 'create' | 'status' | 'download' | 'cancel';

/** What the mock does instead of (or before) answering one request. */
export type UpstreamFault =
  /** Answers with exactly this status, headers and body (e.g. 500 with HTML, 429 with `retry-after`). */
  | { kind: 'http'; status: number; headers?: Record<string, string>; body?: string }
  /** Reads the request and never answers; the socket stays open until the mock closes. */
  | { kind: 'hang' }
  /** Waits `ms`, then handles the request as usual (a create still creates, even if the client gave up). */
  | { kind: 'delay'; ms: number }
  /** 200, `content-type: application/json`, and a truncated body that is not JSON. */
  | { kind: 'malformed' }
  /** Destroys the socket without answering (nothing is created). */
  | { kind: 'reset' }
  /** Handles the request for real (a create creates the job), then destroys the socket without answering. */
  | { kind: 'accept-then-reset' }
  /** Kie only: HTTP 200 with Kie's envelope `{code, msg, data: null}`. */
  | { kind: 'code'; code: number; msg: string };

/** How a job created by a mock plays out. */
export interface Scenario {
  /** `stuck` never leaves the generating / in-progress state. */
  outcome: 'success' | 'fail' | 'stuck';
  /** Time from creation to the final state; default 300 ms. */
  durationMs?: number;
  failCode?: string;
  failMsg?: string;
  /**
   * What the result URL serves on success: `mp4` a real H.264 MP4; `html` a 200 `text/html` page;
   * `missing` a 404; `huge` 64 MiB of `video/mp4` (an `ftyp` box, then zeros) streamed chunked, without
   * a content-length. Default `mp4`.
   */
  result?: 'mp4' | 'html' | 'missing' | 'huge';
}

const DEFAULT_DURATION_MS = 300;

/** The scenario of jobs nobody queued one for. */
export const DEFAULT_SCENARIO: Readonly<Scenario> = { outcome: 'success', durationMs: DEFAULT_DURATION_MS, result: 'mp4' };

/** Bytes streamed by the `huge` result. */
export const HUGE_RESULT_BYTES = 64 * 1024 * 1024;

/** One request the mock received; `status` is 0 when it was never answered (hang, reset). */
export interface RequestLogEntry {
  method: string;
  /** The path without the query string. */
  path: string;
  /** The fault route it counted as, or null (auth-free or unknown paths still count when they match). */
  route: UpstreamRoute | null;
  status: number;
}

/** Fields every mock job has; `state` is computed from the clock each time it is read. */
export interface UpstreamJob<State extends string = string> {
  readonly id: string;
  /** The parsed create request (JSON object, or the text fields of a multipart form). */
  readonly body: Readonly<Record<string, unknown>>;
  readonly state: State;
  /** Epoch milliseconds. */
  readonly createdAt: number;
  readonly scenario: Readonly<Scenario>;
  /** Dimensions and duration of the result video. */
  readonly width: number;
  readonly height: number;
  readonly seconds: number;
}

/** Per-route queue of faults: each request to a route takes the next one, if any. */
export class FaultQueue<Route extends string, Fault> {
  readonly #queues = new Map<Route, Fault[]>();

  /** Queues `fault` for the next `times` requests to `route` (after those already queued). */
  inject(route: Route, fault: Fault, times = 1): void {
    const queue = this.#queues.get(route) ?? [];
    for (let i = 0; i < times; i++) queue.push(fault);
    this.#queues.set(route, queue);
  }

  /** The fault for this request to `route`, removed from the queue; undefined when none is queued. */
  take(route: Route): Fault | undefined {
    return this.#queues.get(route)?.shift();
  }
}

/** Scenarios queued for the next created jobs, falling back to a default. */
export class ScenarioQueue {
  readonly #queue: Scenario[] = [];
  constructor(private readonly fallback: Readonly<Scenario> = DEFAULT_SCENARIO) {}

  /** Queues scenarios for the next jobs, in order. */
  push(...scenarios: Scenario[]): void {
    this.#queue.push(...scenarios);
  }

  /** The scenario of a job being created now, with durationMs and result filled in. */
  take(): Readonly<Scenario> {
    const scenario = this.#queue.shift() ?? this.fallback;
    return { ...scenario, durationMs: scenario.durationMs ?? DEFAULT_DURATION_MS, result: scenario.result ?? 'mp4' };
  }
}

/** Where a job is in its life: waiting (first 10 %), queued (to 25 %), running, then done. */
export type JobPhase = 'waiting' | 'queued' | 'running' | 'succeeded' | 'failed';

/**
 * The phase and progress (0–100) of a job `elapsedMs` after creation. A job that is not yet `settled`
 * (e.g. its input is still being fetched) keeps running past its duration; `stuck` runs for ever at ≤ 95 %.
 */
export function jobPhase(scenario: Readonly<Scenario>, elapsedMs: number, settled = true): { phase: JobPhase; progress: number } {
  const duration = scenario.durationMs ?? DEFAULT_DURATION_MS;
  const fraction = duration <= 0 ? 1 : elapsedMs / duration;
  if (fraction < 0.1) return { phase: 'waiting', progress: 0 };
  if (fraction < 0.25) return { phase: 'queued', progress: 0 };
  const running = Math.round(((fraction - 0.25) / 0.75) * 100);
  if (scenario.outcome === 'stuck') return { phase: 'running', progress: Math.max(1, Math.min(95, running)) };
  if (fraction < 1 || !settled) return { phase: 'running', progress: Math.max(1, Math.min(99, running)) };
  return scenario.outcome === 'success' ? { phase: 'succeeded', progress: 100 } : { phase: 'failed', progress: 100 };
}

/** A random id: `prefix` then `bytes` random bytes in hex. */
export function randomId(prefix: string, bytes = 16): string {
  return prefix + randomBytes(bytes).toString('hex');
}

/** What a route handler answers; a `Readable` body is streamed. */
export interface MockResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer | Readable;
}

/** A JSON response. */
export function jsonResponse(status: number, value: unknown, headers: Record<string, string> = {}): MockResponse {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(value) };
}

/** A buffered incoming request, as route handlers see it. */
export interface MockRequest {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A 32-byte `ftyp` box (isom, iso2, avc1, mp41): what a real MP4 starts with. */
const FTYP_BOX = Buffer.concat([Buffer.from([0, 0, 0, 32]), Buffer.from('ftypisom'), Buffer.from([0, 0, 2, 0]), Buffer.from('isomiso2avc1mp41')]);

/** `totalBytes` of "MP4": an `ftyp` box then zeros, produced as it is read (never buffered whole). */
export function hugeMp4Stream(totalBytes = HUGE_RESULT_BYTES): Readable {
  const zeros = Buffer.alloc(1024 * 1024);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= totalBytes) {
        this.push(null);
      } else if (sent === 0) {
        sent = FTYP_BOX.length;
        this.push(FTYP_BOX);
      } else {
        const size = Math.min(zeros.length, totalBytes - sent);
        sent += size;
        this.push(size === zeros.length ? zeros : zeros.subarray(0, size));
      }
    },
  });
}

/** Real H.264 MP4s (testsrc2, 2 fps), made once per size and duration in a temp dir removed by `dispose`. */
export function createResultVideos() {
  const made = new Map<string, Promise<Buffer>>();
  let dir: Promise<string> | null = null;
  return {
    /** The bytes of a `width`×`height` MP4 of `seconds` seconds. */
    mp4(width: number, height: number, seconds: number): Promise<Buffer> {
      const key = `${width}x${height}-${seconds}s`;
      let video = made.get(key);
      if (!video) {
        dir ??= mkdtemp(join(tmpdir(), 'rivya-mock-upstream-'));
        video = dir.then(async (folder) => {
          const path = join(folder, `${key}.mp4`);
          const args = ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=s=${width}x${height}:r=2:d=${seconds}`,
            '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast', '-movflags', '+faststart', path];
          await promisify(execFile)(ffmpegPath, args);
          return readFile(path);
        });
        video.catch(() => made.delete(key));
        made.set(key, video);
      }
      return video;
    },
    async dispose(): Promise<void> {
      const folder = await dir?.catch(() => null);
      if (folder) await rm(folder, { recursive: true, force: true });
    },
  };
}

/** The response for a finished job's result, per its scenario; `missing` answers `notFound`. */
export async function resultResponse(
  job: UpstreamJob,
  videos: ReturnType<typeof createResultVideos>,
  notFound: MockResponse,
): Promise<MockResponse> {
  switch (job.scenario.result ?? 'mp4') {
    case 'missing':
      return notFound;
    case 'html':
      return { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: '<!doctype html><html><body><h1>Access Denied</h1></body></html>' };
    case 'huge':
      return { status: 200, headers: { 'content-type': 'video/mp4' }, body: hugeMp4Stream() };
    case 'mp4':
      return { status: 200, headers: { 'content-type': 'video/mp4' }, body: await videos.mp4(job.width, job.height, job.seconds) };
  }
}

/** How a mock plugs into `startUpstreamServer`. */
export interface UpstreamServerOptions<Fault extends UpstreamFault> {
  /** The fault route of a request, or null when faults never apply to it. */
  route(method: string, path: string): UpstreamRoute | null;
  faults: FaultQueue<UpstreamRoute, Fault>;
  /** The body sent by the `malformed` fault. */
  malformedBody: string;
  handle(request: MockRequest, route: UpstreamRoute | null): Promise<MockResponse>;
}

/** A running loopback HTTP server that logs requests and applies queued faults before its handler. */
export interface UpstreamServer {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  requests: RequestLogEntry[];
  /** Aborted when the server closes: for the mock's own timers and outgoing fetches. */
  signal: AbortSignal;
  /** Stops listening and destroys every open socket (hung requests included). */
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** Starts a mock upstream on 127.0.0.1 and an ephemeral port. */
export async function startUpstreamServer<Fault extends UpstreamFault>(options: UpstreamServerOptions<Fault>): Promise<UpstreamServer> {
  const requests: RequestLogEntry[] = [];
  const sockets = new Set<Socket>();
  const closing = new AbortController();
  // Every pending job timer and callback listens for the close: as many as there are jobs.
  setMaxListeners(0, closing.signal);

  const send = (res: ServerResponse, entry: RequestLogEntry, response: MockResponse) => {
    entry.status = response.status;
    const { body } = response;
    const headers = { ...response.headers };
    if (typeof body === 'string' || Buffer.isBuffer(body)) headers['content-length'] = String(Buffer.byteLength(body));
    res.writeHead(response.status, headers);
    if (body instanceof Readable) pipeline(body, res).catch(() => undefined);
    else res.end(body);
  };

  const dispatch = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    const route = options.route(method, url.pathname);
    const entry: RequestLogEntry = { method, path: url.pathname, route, status: 0 };
    requests.push(entry);
    const body = await readBody(req);
    if (!body) return;
    const fault = route ? options.faults.take(route) : undefined;
    switch (fault?.kind) {
      case 'http':
        return send(res, entry, { status: fault.status, headers: fault.headers ?? {}, body: fault.body ?? '' });
      case 'hang':
        return;
      case 'reset':
        req.socket.destroy();
        return;
      case 'malformed':
        return send(res, entry, { status: 200, headers: { 'content-type': 'application/json' }, body: options.malformedBody });
      case 'code':
        return send(res, entry, jsonResponse(200, { code: fault.code, msg: fault.msg, data: null }));
      case 'delay':
        await sleep(fault.ms, undefined, { signal: closing.signal });
        break;
      default:
        break;
    }
    const response = await options.handle({ method, url, headers: req.headers, body }, route);
    if (fault?.kind === 'accept-then-reset') {
      if (response.body instanceof Readable) response.body.destroy();
      req.socket.destroy();
      return;
    }
    if (!res.destroyed) send(res, entry, response);
  };

  const server = createServer((req, res) => {
    dispatch(req, res).catch((error: unknown) => {
      if (closing.signal.aborted || res.headersSent || res.destroyed) return;
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`mock upstream error: ${String(error)}`);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  let closed: Promise<void> | null = null;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    signal: closing.signal,
    close() {
      closed ??= new Promise<void>((resolve) => {
        closing.abort();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

/** The whole request body, or null when the client went away or sent more than 64 MiB. */
async function readBody(req: IncomingMessage): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.socket.destroy();
        return null;
      }
      chunks.push(chunk);
    }
  } catch {
    return null;
  }
  return Buffer.concat(chunks);
}

/** The bearer token of an `authorization` header, or null. */
export function bearerToken(headers: IncomingHttpHeaders): string | null {
  const match = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? '');
  return match?.[1]?.trim() ?? null;
}
