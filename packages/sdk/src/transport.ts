import {
  ConnectionError, errorFromResponse, parseRetryAfter, RivyaError, StreamUnavailableError, TimeoutError, type ApiError,
} from './errors.js';
import { PagePromise } from './pagination.js';
import { POSITION_HEADER, positionOfHeader, SeenPosition } from './position.js';
import type { ListParams, Page, TaskListParams } from './types.js';

export interface ClientOptions {
  /** Defaults to the `RIVYA_API_KEY` environment variable. */
  apiKey?: string;
  /** Defaults to `RIVYA_BASE_URL`, else `http://localhost:8080`. */
  baseUrl?: string;
  /** A `fetch` to use instead of the global one (proxies, tests). */
  fetch?: typeof fetch;
  /** Retries of a request that met a 429, a 5xx or a network error (default 2). */
  maxRetries?: number;
  /** Per attempt, in milliseconds (default 60 000; 0 or Infinity: none). Long-polls get their wait on top. */
  timeout?: number;
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** Overrides the automatic one (a POST gets `rivya-<uuid>`, kept across its retries). */
  idempotencyKey?: string;
  timeout?: number;
  maxRetries?: number;
}

export const RETRYABLE_STATUSES = new Set([408, 409, 429, 500, 502, 503, 504]);

export function environment(name: string): string | undefined {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.[name] || undefined;
}

/** The largest delay a timer takes (about 24.8 days); a longer one would fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A per-attempt timeout option: null for none (0 or Infinity), else clamped to what a timer takes. */
export function attemptTimeout(value: number): number | null {
  if (value === 0 || value === Infinity) return null;
  if (!(value > 0)) throw new RivyaError(`timeout must be a positive number of milliseconds (0 or Infinity for none), not ${value}.`);
  return Math.min(MAX_TIMER_MS, value);
}

export function retryCount(value: number): number {
  if (!Number.isInteger(value) || value < 0) throw new RivyaError(`maxRetries must be a whole number from 0, not ${value}.`);
  return value;
}

/**
 * A signal that aborts when any of `signals` does, and a release that unhooks it from them
 * (`AbortSignal.any` keeps every signal it was given alive as long as the long-lived one is).
 */
export function linkSignals(signals: (AbortSignal | null | undefined)[]): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const hooks: [AbortSignal, () => void][] = [];
  for (const signal of signals) {
    if (!signal) continue;
    if (signal.aborted) {
      controller.abort(signal.reason);
      break;
    }
    const onAbort = () => controller.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    hooks.push([signal, onAbort]);
  }
  return { signal: controller.signal, release: () => hooks.forEach(([signal, onAbort]) => signal.removeEventListener('abort', onAbort)) };
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Exponential backoff from 0.5 s with ±25% jitter, capped at 8 s; the server's Retry-After wins (up to 60 s). */
export function backoffDelay(attempt: number, retryAfterSeconds: number | null): number {
  if (retryAfterSeconds !== null) return Math.min(60, retryAfterSeconds) * 1000;
  return Math.min(8000, 500 * 2 ** attempt) * (0.75 + Math.random() * 0.5);
}

/** The HTTP layer shared by the API client and the admin client. */
export class Transport {
  readonly baseUrl: string;
  readonly #token: string;
  readonly #fetch: typeof fetch;
  readonly #maxRetries: number;
  readonly #timeout: number | null;
  /** Sent as `Rivya-Position` on every request: no API process answers with anything older than this client has seen. */
  readonly position = new SeenPosition();

  /** The per-attempt timeout in milliseconds (null: none); a stream's longest silence by default. */
  get timeout(): number | null {
    return this.#timeout;
  }

  constructor(token: string, options: ClientOptions) {
    this.#token = token;
    this.baseUrl = (options.baseUrl ?? environment('RIVYA_BASE_URL') ?? 'http://localhost:8080').replace(/\/+$/, '');
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#maxRetries = retryCount(options.maxRetries ?? 2);
    this.#timeout = attemptTimeout(options.timeout ?? 60_000);
  }

  /**
   * Sends a request; retries 408/409-in-flight/429/5xx answers and network errors with
   * exponential backoff (or the server's `Retry-After`). A POST carries one `Idempotency-Key`
   * across all its tries, so a retry can never create a second task or charge twice.
   */
  async request<T>(
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    path: string,
    options: RequestOptions & {
      query?: Record<string, string | number | undefined>;
      body?: unknown;
      extraTimeout?: number;
      /** For a DELETE: what a 404 on a retry means (the first try did it, and its answer was lost). */
      goneAfterRetry?: T;
    } = {},
  ): Promise<T> {
    const url = new URL(`${this.baseUrl}${path}`);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}`, accept: 'application/json' };
    if (method === 'POST') headers['idempotency-key'] = options.idempotencyKey ?? `rivya-${crypto.randomUUID()}`;
    let body: string | FormData | undefined;
    if (options.body instanceof FormData) {
      body = options.body;
    } else if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    const maxRetries = options.maxRetries === undefined ? this.#maxRetries : retryCount(options.maxRetries);
    const perAttempt = options.timeout === undefined ? this.#timeout : attemptTimeout(options.timeout);
    const timeout = perAttempt === null ? null : Math.min(MAX_TIMER_MS, perAttempt + (options.extraTimeout ?? 0));
    const key = headers['idempotency-key'];
    /** A failure of this request, carrying the POST's key (it may have taken effect; a resend with the key is safe). */
    const failed = <E extends RivyaError>(error: E): E => {
      if (key) error.idempotencyKey = key;
      return error;
    };
    /** Whether an earlier try may have done what was asked (its answer lost), as opposed to being turned away. */
    let mayHaveActed = false;
    for (let attempt = 0; ; attempt++) {
      const attemptSignal = timeout === null ? null : AbortSignal.timeout(timeout);
      const linked = linkSignals([options.signal, attemptSignal]);
      // Per attempt: a concurrent request may have raised it since the last one.
      this.position.send(headers);
      let response: Response;
      let text: string;
      try {
        response = await this.#fetch(url, { method, headers, ...(body === undefined ? {} : { body }), signal: linked.signal });
        this.position.raise(positionOfHeader(response.headers.get(POSITION_HEADER)));
        // Read inside the try: a connection cut or a timeout while the body arrives is a network failure too.
        text = await response.text();
      } catch (error) {
        if (options.signal?.aborted) throw options.signal.reason;
        const failure = failed(attemptSignal?.aborted
          ? new TimeoutError(`${method} ${path} took longer than ${timeout} ms.`, { cause: error })
          : new ConnectionError(`${method} ${path} failed: ${error instanceof Error ? error.message : String(error)}`, url.href, { cause: error }));
        if (attempt >= maxRetries) throw failure;
        mayHaveActed = true;
        await sleep(backoffDelay(attempt, null), options.signal);
        continue;
      } finally {
        linked.release();
      }
      let parsed: unknown = undefined;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      if (response.ok) {
        if (parsed === undefined) throw failed(new RivyaError(`${method} ${path} answered ${response.status} with a body that is not JSON.`));
        return parsed as T;
      }
      if (response.status === 404 && mayHaveActed && options.goneAfterRetry !== undefined) return options.goneAfterRetry;
      const error: ApiError = failed(errorFromResponse(response.status, parsed, response.headers));
      // 409 is retried only while the first request with this key is still in flight.
      const retryable =
        RETRYABLE_STATUSES.has(response.status) && (response.status !== 409 || response.headers.has('retry-after'));
      if (!retryable || attempt >= maxRetries) throw error;
      // A 5xx from a proxy may follow a request the service did; 408, 409, 429 and 503 turned it away.
      if ([500, 502, 504].includes(response.status)) mayHaveActed = true;
      await sleep(backoffDelay(attempt, parseRetryAfter(response.headers.get('retry-after'))), options.signal);
    }
  }

  /**
   * Opens one connection of an event stream (`Accept: text/event-stream`, `Last-Event-ID` when
   * resuming) and resolves once its headers arrived. An error answer throws its `ApiError`, a
   * network failure a `ConnectionError`, an answer that is not an event stream a
   * `StreamUnavailableError`; an abort of `signal` throws its reason; a `204` (nothing more to
   * stream, as for an `EventSource`) resolves null. No retries here: the caller resumes (see
   * `resumableEventStream`).
   */
  async openEventStream(
    path: string,
    options: { query?: Record<string, string | undefined>; lastEventId: string | null; signal: AbortSignal },
  ): Promise<ReadableStream<Uint8Array> | null> {
    const url = new URL(`${this.baseUrl}${path}`);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, value);
    }
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}`, accept: 'text/event-stream', 'cache-control': 'no-cache' };
    if (options.lastEventId) headers['last-event-id'] = options.lastEventId;
    this.position.send(headers);
    let response: Response;
    try {
      response = await this.#fetch(url, { method: 'GET', headers, signal: options.signal });
      this.position.raise(positionOfHeader(response.headers.get(POSITION_HEADER)));
    } catch (error) {
      if (options.signal.aborted) throw options.signal.reason;
      throw new ConnectionError(`GET ${path} failed: ${error instanceof Error ? error.message : String(error)}`, url.href, { cause: error });
    }
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      let parsed: unknown = undefined;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      throw errorFromResponse(response.status, parsed, response.headers);
    }
    if (response.status === 204) return null;
    const type = response.headers.get('content-type') ?? '';
    if (!/^text\/event-stream\b/i.test(type) || !response.body) {
      void response.body?.cancel().catch(() => undefined);
      throw new StreamUnavailableError(`GET ${path} answered ${response.status} with ${type || 'no content type'}, not an event stream.`);
    }
    return response.body;
  }

  /** A paginated GET: each page asked with the previous page's `next_cursor`. */
  list<T>(path: string, params: ListParams | TaskListParams, options: RequestOptions): PagePromise<T> {
    return new PagePromise(
      (cursor) => this.request<Page<T>>('GET', path, { ...options, query: { ...params, cursor } }),
      params.cursor,
    );
  }
}

