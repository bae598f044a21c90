import { CATALOG, TERMINAL_STATUSES } from './catalog.js';
import {
  ConnectionError, errorFromResponse, parseRetryAfter, RivyaError, TaskFailedError, TimeoutError, type ApiError,
} from './errors.js';
import { PagePromise } from './pagination.js';
import { verifyWebhook } from './webhook-verification.js';
import type {
  Account, AccountLimits, AdminAccount, ApiKeyCreated, CreateTaskParams, FileObject, LedgerEntry, ListParams, Model, Page,
  Task, TaskListParams,
} from './types.js';

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

export interface WaitOptions {
  signal?: AbortSignal;
  /** Called with the task each time it is fetched (progress 0–100, status). */
  onProgress?: (task: Task) => void;
  /** How long each long-poll may wait for the task to end, in seconds (1–60, default 20). */
  pollSeconds?: number;
  /** Gives up waiting after this many milliseconds in all, with a `TimeoutError` (the task goes on). Default: no limit. */
  timeout?: number;
  /** Retries of each poll (default: the client's). */
  maxRetries?: number;
}

/** `tasks.run`: the create's idempotency key, and the wait's options (its `timeout` bounds the whole wait). */
export type RunOptions = WaitOptions & Pick<RequestOptions, 'idempotencyKey'>;

export type Uploadable = Blob | Uint8Array | ArrayBuffer | string;

export interface UploadOptions extends RequestOptions {
  /** The file name sent (default: the path's base name, or the Blob's name, or `upload`). */
  name?: string;
  /** The declared type; the server judges the bytes, so leaving it out is fine. */
  mimeType?: string;
}

const TERMINAL: ReadonlySet<string> = new Set(TERMINAL_STATUSES);
const RETRYABLE_STATUSES = new Set([408, 409, 429, 500, 502, 503, 504]);

function environment(name: string): string | undefined {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.[name] || undefined;
}

/** The largest delay a timer takes (about 24.8 days); a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A per-attempt timeout option: null for none (0 or Infinity), else clamped to what a timer takes. */
function attemptTimeout(value: number): number | null {
  if (value === 0 || value === Infinity) return null;
  if (!(value > 0)) throw new RivyaError(`timeout must be a positive number of milliseconds (0 or Infinity for none), not ${value}.`);
  return Math.min(MAX_TIMER_MS, value);
}

function retryCount(value: number): number {
  if (!Number.isInteger(value) || value < 0) throw new RivyaError(`maxRetries must be a whole number from 0, not ${value}.`);
  return value;
}

/**
 * A signal that aborts when any of `signals` does, and a release that unhooks it from them
 * (`AbortSignal.any` keeps every signal it was given alive as long as the long-lived one is).
 */
function linkSignals(signals: (AbortSignal | null | undefined)[]): { signal: AbortSignal; release: () => void } {
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

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
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

/** The HTTP layer shared by the API client and the admin client. */
class Transport {
  readonly baseUrl: string;
  readonly #token: string;
  readonly #fetch: typeof fetch;
  readonly #maxRetries: number;
  readonly #timeout: number | null;

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
      let response: Response;
      let text: string;
      try {
        response = await this.#fetch(url, { method, headers, ...(body === undefined ? {} : { body }), signal: linked.signal });
        // Read inside the try: a connection cut or a timeout while the body arrives is a network failure too.
        text = await response.text();
      } catch (error) {
        if (options.signal?.aborted) throw options.signal.reason;
        const failure = failed(attemptSignal?.aborted
          ? new TimeoutError(`${method} ${path} took longer than ${timeout} ms.`, { cause: error })
          : new ConnectionError(`${method} ${path} failed: ${error instanceof Error ? error.message : String(error)}`, url.href, { cause: error }));
        if (attempt >= maxRetries) throw failure;
        mayHaveActed = true;
        await sleep(this.#backoff(attempt, null), options.signal);
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
      await sleep(this.#backoff(attempt, parseRetryAfter(response.headers.get('retry-after'))), options.signal);
    }
  }

  /** A paginated GET: each page asked with the previous page's `next_cursor`. */
  list<T>(path: string, params: ListParams | TaskListParams, options: RequestOptions): PagePromise<T> {
    return new PagePromise(
      (cursor) => this.request<Page<T>>('GET', path, { ...options, query: { ...params, cursor } }),
      params.cursor,
    );
  }

  /** Exponential backoff from 0.5 s with ±25% jitter, capped at 8 s; the server's Retry-After wins (up to 60 s). */
  #backoff(attempt: number, retryAfterSeconds: number | null): number {
    if (retryAfterSeconds !== null) return Math.min(60, retryAfterSeconds) * 1000;
    return Math.min(8000, 500 * 2 ** attempt) * (0.75 + Math.random() * 0.5);
  }
}

/** The Rivya Public API v1 client. */
export class Rivya {
  readonly #transport: Transport;
  readonly baseUrl: string;

  constructor(options: ClientOptions = {}) {
    const apiKey = options.apiKey ?? environment('RIVYA_API_KEY');
    if (!apiKey) throw new RivyaError('No API key: pass { apiKey } or set RIVYA_API_KEY.');
    this.#transport = new Transport(apiKey, options);
    this.baseUrl = this.#transport.baseUrl;
  }

  /** The model catalog (public). */
  readonly models = {
    list: (options: RequestOptions = {}): Promise<Model[]> =>
      this.#transport.request<{ data: Model[] }>('GET', '/api/v1/models', options).then((page) => page.data),
    get: (id: string, options: RequestOptions = {}): Promise<Model> =>
      this.#transport.request('GET', `/api/v1/models/${encodeURIComponent(id)}`, options),
    /** The models and their parameter options this SDK was built with (no request). */
    catalog: CATALOG,
  };

  readonly tasks = {
    /** Creates a task; its price is held until it ends. */
    create: (params: CreateTaskParams, options: RequestOptions = {}): Promise<Task> =>
      this.#transport.request('POST', '/api/v1/tasks', { ...options, body: params }),

    get: (id: string, options: RequestOptions = {}): Promise<Task> =>
      this.#transport.request('GET', `/api/v1/tasks/${encodeURIComponent(id)}`, options),

    /** Newest first; await for a page, or `for await` over every task. */
    list: (params: TaskListParams = {}, options: RequestOptions = {}): PagePromise<Task> =>
      this.#transport.list<Task>('/api/v1/tasks', params, options),

    /** Cancels a queued or running task and releases its credits. */
    cancel: (id: string, options: RequestOptions = {}): Promise<Task> =>
      this.#transport.request('POST', `/api/v1/tasks/${encodeURIComponent(id)}/cancel`, options),

    /**
     * Resolves with the task once it has ended (succeeded, failed or canceled), long-polling the
     * server (`?wait=`), so no time is spent between polls.
     */
    wait: async (id: string, options: WaitOptions = {}): Promise<Task> => {
      const asked = Number.isFinite(options.pollSeconds) ? (options.pollSeconds as number) : 20;
      const seconds = Math.max(1, Math.min(60, Math.round(asked)));
      const deadline = options.timeout === undefined ? null : attemptTimeout(options.timeout);
      const giveUp = deadline === null ? null : AbortSignal.timeout(deadline);
      const linked = linkSignals([options.signal, giveUp]);
      try {
        for (;;) {
          linked.signal.throwIfAborted();
          const task = await this.#transport.request<Task>('GET', `/api/v1/tasks/${encodeURIComponent(id)}`, {
            query: { wait: seconds }, extraTimeout: seconds * 1000, signal: linked.signal,
            ...(options.maxRetries === undefined ? {} : { maxRetries: options.maxRetries }),
          });
          options.onProgress?.(task);
          if (TERMINAL.has(task.status)) return task;
        }
      } catch (error) {
        if (giveUp?.aborted && !options.signal?.aborted) throw new TimeoutError(`Task ${id} did not end within ${deadline} ms; it goes on.`, { cause: error });
        throw options.signal?.aborted ? options.signal.reason : error;
      } finally {
        linked.release();
      }
    },

    /**
     * Creates a task and waits for it: resolves with the succeeded task, rejects with
     * `TaskFailedError` otherwise (or `TimeoutError` after `timeout` ms of waiting).
     */
    run: async (params: CreateTaskParams, options: RunOptions = {}): Promise<Task> => {
      const { idempotencyKey, ...waiting } = options;
      const created = await this.tasks.create(params, {
        ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.maxRetries === undefined ? {} : { maxRetries: options.maxRetries }),
      });
      const task = await this.tasks.wait(created.id, waiting);
      if (task.status !== 'succeeded') throw new TaskFailedError(task);
      return task;
    },
  };

  readonly files = {
    /** Uploads a reference file: a `File`/`Blob`, bytes, or (in Node) a path. */
    upload: async (file: Uploadable, options: UploadOptions = {}): Promise<FileObject> => {
      const { blob, name } = await toBlob(file, options);
      const form = new FormData();
      form.set('file', blob, name);
      return this.#transport.request('POST', '/api/v1/files', { ...options, body: form });
    },
    get: (id: string, options: RequestOptions = {}): Promise<FileObject> =>
      this.#transport.request('GET', `/api/v1/files/${encodeURIComponent(id)}`, options),
    list: (params: ListParams = {}, options: RequestOptions = {}): PagePromise<FileObject> =>
      this.#transport.list<FileObject>('/api/v1/files', params, options),
    delete: (id: string, options: RequestOptions = {}): Promise<{ id: string; deleted: boolean }> =>
      this.#transport.request('DELETE', `/api/v1/files/${encodeURIComponent(id)}`, { ...options, goneAfterRetry: { id, deleted: true } }),
  };

  readonly webhooks = {
    /**
     * Checks a webhook delivery (Standard Webhooks signature and timestamp) and returns its
     * event; throws `WebhookVerificationError`. Also exported as `verifyWebhook`, which needs no client.
     */
    verify: verifyWebhook,
  };

  readonly account = {
    get: (options: RequestOptions = {}): Promise<Account> => this.#transport.request('GET', '/api/v1/account', options),
    /** The credit ledger, newest first; await for a page, or `for await` over every entry. */
    ledger: (params: ListParams = {}, options: RequestOptions = {}): PagePromise<LedgerEntry> =>
      this.#transport.list<LedgerEntry>('/api/v1/account/ledger', params, options),
  };
}

/** The operator's client for `/admin/v1` (the server's `RIVYA_ADMIN_TOKEN`). */
export class RivyaAdmin {
  readonly #transport: Transport;

  constructor(options: Omit<ClientOptions, 'apiKey'> & { adminToken?: string } = {}) {
    const token = options.adminToken ?? environment('RIVYA_ADMIN_TOKEN');
    if (!token) throw new RivyaError('No admin token: pass { adminToken } or set RIVYA_ADMIN_TOKEN.');
    this.#transport = new Transport(token, options);
  }

  readonly accounts = {
    create: (params: { name: string; credits?: number }, options: RequestOptions = {}): Promise<AdminAccount> =>
      this.#transport.request('POST', '/admin/v1/accounts', { ...options, body: params }),
    get: (id: string, options: RequestOptions = {}): Promise<AdminAccount> =>
      this.#transport.request('GET', `/admin/v1/accounts/${encodeURIComponent(id)}`, options),
    update: (id: string, params: { limits: Partial<AccountLimits> }, options: RequestOptions = {}): Promise<AdminAccount> =>
      this.#transport.request('PATCH', `/admin/v1/accounts/${encodeURIComponent(id)}`, { ...options, body: params }),
  };

  readonly keys = {
    create: (accountId: string, params: { name?: string } = {}, options: RequestOptions = {}): Promise<ApiKeyCreated> =>
      this.#transport.request('POST', `/admin/v1/accounts/${encodeURIComponent(accountId)}/keys`, { ...options, body: params }),
    revoke: (keyId: string, options: RequestOptions = {}): Promise<{ id: string; revoked: boolean }> =>
      this.#transport.request('DELETE', `/admin/v1/keys/${encodeURIComponent(keyId)}`, options),
  };

  readonly credits = {
    /** Grants credits (a negative amount adjusts down). */
    grant: (
      accountId: string,
      params: { amount: number; reason: string },
      options: RequestOptions = {},
    ): Promise<{ entry: LedgerEntry; account: AdminAccount | null }> =>
      this.#transport.request('POST', `/admin/v1/accounts/${encodeURIComponent(accountId)}/credits`, { ...options, body: params }),
  };
}

async function toBlob(file: Uploadable, options: UploadOptions): Promise<{ blob: Blob; name: string }> {
  const type = options.mimeType ? { type: options.mimeType } : {};
  if (typeof file === 'string') {
    const fs = await import('node:fs');
    const path = await import('node:path');
    return { blob: await fs.openAsBlob(file, type), name: options.name ?? path.basename(file) };
  }
  if (file instanceof Blob) {
    const name = options.name ?? ((file as { name?: unknown }).name as string | undefined) ?? 'upload';
    return { blob: options.mimeType ? new Blob([file], type) : file, name };
  }
  // A copy: a view of a shared or larger buffer is not a Blob part as it is.
  const bytes = new Uint8Array(file);
  return { blob: new Blob([bytes], type), name: options.name ?? 'upload' };
}
