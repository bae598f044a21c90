import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { fileTypeFromFile } from 'file-type';
import { byteLimit } from '../storage/byte-limit.js';
import { ObjectTooLargeError } from '../storage/port.js';
import { redactUpstreamText, unreadable, UpstreamError } from './upstream-error.js';

/** Errors of a connection that never carried the request: safe to send it elsewhere. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

export interface UpstreamRequest {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  /** Sent to `url`'s origin only: a redirect elsewhere drops them (they carry the account's key). */
  headers?: Record<string, string>;
  body?: string | FormData;
  /** Gives up after this long (connect + answer); a hung upstream is a timeout. */
  timeoutMs: number;
  /** The task's signal: cancel, deadline or shutdown abort the call. */
  signal: AbortSignal;
}

export interface UpstreamResponse {
  status: number;
  headers: Headers;
  /** The body as text (already read). */
  text: string;
}

/** `Retry-After` as seconds (delta-seconds or an HTTP date), or null. */
export function retryAfterSeconds(headers: Headers): number | null {
  const raw = headers.get('retry-after');
  if (!raw) return null;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds, 3600);
  const date = Date.parse(raw);
  return Number.isNaN(date) ? null : Math.max(0, Math.min(3600, Math.ceil((date - Date.now()) / 1000)));
}

/**
 * One HTTP call to an upstream. Network failures become `UpstreamError`s: a refused connection
 * is retryable anywhere; a timeout or a broken connection after a POST was sent is ambiguous
 * (the upstream may have accepted it). The caller's abort is rethrown as is.
 */
export async function callUpstream(request: UpstreamRequest): Promise<UpstreamResponse> {
  const timeout = AbortSignal.timeout(request.timeoutMs);
  const signal = AbortSignal.any([request.signal, timeout]);
  const mayHaveArrived = request.method !== 'GET';
  try {
    const response = await fetchFollowing(request.url, {
      method: request.method,
      headers: request.headers ?? {},
      ...(request.body === undefined ? {} : { body: request.body }),
      signal,
    });
    const text = withoutCredentials(await response.text(), request.headers ?? {});
    return { status: response.status, headers: response.headers, text };
  } catch (error) {
    if (request.signal.aborted) throw request.signal.reason;
    if (timeout.aborted) {
      throw new UpstreamError({
        message: 'The provider did not answer in time.', reason: 'timeout', retryable: true, ambiguous: mayHaveArrived,
      });
    }
    const code = networkCode(error);
    const sent = !NOT_SENT_CODES.has(code);
    throw new UpstreamError({
      message: 'The provider could not be reached.',
      reason: code ? `network_${code.toLowerCase()}` : 'network',
      retryable: true,
      ambiguous: mayHaveArrived && sent,
      detail: error instanceof Error ? error.message : String(error),
    });
  }
}

/** Request headers that carry the account's key (as `Bearer <key>`, or bare). */
const CREDENTIAL_HEADERS = new Set(['authorization', 'api-key', 'x-api-key']);

/**
 * `text` with every credential the request sent replaced: an upstream that quotes the key back
 * (in an error, say) must not put it in our logs, and no pattern can tell a bare key (Kie's and
 * Azure's are plain hex) from other words.
 */
function withoutCredentials(text: string, headers: Record<string, string>): string {
  let clean = text;
  for (const [name, value] of Object.entries(headers)) {
    if (!CREDENTIAL_HEADERS.has(name.toLowerCase())) continue;
    const secret = value.replace(/^bearer\s+/i, '').trim();
    // A value this short is no key, and replacing it would garble the answer.
    if (secret.length >= 8) clean = clean.replaceAll(secret, '[redacted]');
  }
  return clean;
}

const MAX_REDIRECTS = 5;

/**
 * `fetch` following redirects by hand: the headers (an API key) go to the first origin only, so
 * a result URL redirecting to a CDN never receives the account's key. (undici drops only
 * `Authorization` across origins, not Azure's `api-key`.)
 */
async function fetchFollowing(url: string, init: { method: string; headers: Record<string, string>; body?: string | FormData; signal: AbortSignal }): Promise<Response> {
  const origin = new URL(url).origin;
  let current = url;
  let method = init.method;
  let body = init.body;
  for (let hop = 0; ; hop++) {
    const response = await fetch(current, {
      method,
      headers: new URL(current).origin === origin ? init.headers : {},
      ...(body === undefined ? {} : { body }),
      signal: init.signal,
      redirect: 'manual',
    });
    const location = response.headers.get('location');
    if (response.status < 300 || response.status >= 400 || !location || hop >= MAX_REDIRECTS) return response;
    await response.body?.cancel().catch(() => {});
    current = new URL(location, current).toString();
    if (response.status === 303 || ((response.status === 301 || response.status === 302) && method === 'POST')) {
      method = 'GET';
      body = undefined;
    }
  }
}

function networkCode(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return '';
}

/**
 * Parses an upstream's JSON answer; anything else is an unreadable, retryable answer. It is
 * ambiguous (the job may exist) only for a create answered 2xx: any other status is a refusal.
 */
export function parseUpstreamJson(response: UpstreamResponse, create: boolean): unknown {
  const ambiguous = create && response.status >= 200 && response.status < 300;
  try {
    return JSON.parse(response.text) as unknown;
  } catch {
    throw unreadable('malformed_response', ambiguous, `HTTP ${response.status}: ${redactUpstreamText(response.text, 200)}`);
  }
}

export interface DownloadOptions {
  headers?: Record<string, string>;
  maxBytes: number;
  timeoutMs: number;
  signal: AbortSignal;
}

/**
 * Streams an upstream's result video to `path`: at most `maxBytes`, and it must be an MP4 by its
 * bytes. A missing or wrong result fails the task (`upstream_error`); a 5xx or a broken
 * connection is retryable (the next poll downloads again).
 */
export async function downloadVideo(url: string, path: string, options: DownloadOptions): Promise<number> {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = AbortSignal.any([options.signal, timeout]);
  let response: Response;
  try {
    response = await fetchFollowing(url, { method: 'GET', headers: options.headers ?? {}, signal });
  } catch (error) {
    if (options.signal.aborted) throw options.signal.reason;
    throw downloadFailed(error, timeout);
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel().catch(() => {});
    const retryable = response.status >= 500 || response.status === 429;
    throw new UpstreamError({
      message: 'The provider did not deliver the result video.', reason: `download_http_${response.status}`, retryable,
      retryAfterSeconds: retryAfterSeconds(response.headers),
    });
  }
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (declared > options.maxBytes) {
    await response.body.cancel().catch(() => {});
    throw tooLarge(options.maxBytes);
  }
  let received = 0;
  const cap = byteLimit(options.maxBytes, (total) => (received = total));
  try {
    await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), cap, createWriteStream(path), { signal });
  } catch (error) {
    if (options.signal.aborted) throw options.signal.reason;
    if (error instanceof ObjectTooLargeError) throw tooLarge(options.maxBytes);
    throw downloadFailed(error, timeout);
  }
  const type = await fileTypeFromFile(path);
  if (type?.mime !== 'video/mp4') {
    throw new UpstreamError({
      message: 'The provider delivered something other than an MP4 video.', reason: 'download_not_mp4', retryable: false,
      detail: `sniffed ${type?.mime ?? 'unknown'}; declared ${response.headers.get('content-type') ?? 'nothing'}`,
    });
  }
  return received;
}

/** A download cut off or timed out: retryable (the next poll downloads again). */
function downloadFailed(error: unknown, timeout: AbortSignal): UpstreamError {
  return new UpstreamError({
    message: 'The result video could not be downloaded.', reason: timeout.aborted ? 'download_timeout' : 'download_network',
    retryable: true, detail: error instanceof Error ? error.message : String(error),
  });
}

function tooLarge(maxBytes: number): UpstreamError {
  return new UpstreamError({
    message: 'The provider delivered a result larger than allowed.', reason: 'download_too_large', retryable: false,
    detail: `over ${maxBytes} bytes`,
  });
}
