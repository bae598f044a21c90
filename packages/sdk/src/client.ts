import { CATALOG, TERMINAL_STATUSES } from './catalog.js';
import { ApiError, RivyaError, StreamUnavailableError, TaskFailedError, TimeoutError } from './errors.js';
import { resumableEventStream, type StreamOptions } from './event-stream.js';
import { PagePromise } from './pagination.js';
import {
  attemptTimeout, environment, linkSignals, retryCount, Transport, type ClientOptions, type RequestOptions,
} from './transport.js';
import type {
  Account, AccountLimits, AdminAccount, ApiKey, ApiKeyCreated, ApiKeyCreateParams, CreateTaskParams, EventListParams, EventType, FileObject, LedgerEntry,
  ListParams, Model, Page, RivyaEvent, Task, TaskEvent, TaskListParams, WebhookDelivery, WebhookEndpoint, WebhookEndpointCreateParams,
  WebhookEndpointUpdateParams, WebhookEndpointWithSecret, WebhookSecret,
} from './types.js';
import { verifyWebhook } from './webhook-verification.js';

export type { ClientOptions, RequestOptions } from './transport.js';
export type { StreamOptions } from './event-stream.js';

export interface WaitOptions {
  signal?: AbortSignal;
  /** Called with the task each time it is fetched (progress 0–100, status). */
  onProgress?: (task: Task) => void;
  /** How long each long-poll may wait for the task to end, in seconds (1–60, default 20). */
  pollSeconds?: number;
  /** Gives up waiting after this many milliseconds in all, with a `TimeoutError` (the task goes on). Default: no limit. */
  timeout?: number;
  /** Retries of each poll (default: the client's), or, when streaming, reconnects in a row (default 10). */
  maxRetries?: number;
  /**
   * Follow the task's event stream (each transition and progress update as it happens) instead
   * of long-polling; falls back to long-polls where the stream is unavailable (an older server,
   * a proxy that buffers). Default: false for `wait`, true for `run`.
   */
  stream?: boolean;
}

/** `tasks.run`: the create's idempotency key, and the wait's options (its `timeout` bounds the whole wait). */
export type RunOptions = WaitOptions & Pick<RequestOptions, 'idempotencyKey'>;

/** `events.stream`: which events, from where. */
export interface EventStreamParams<T extends EventType = EventType> extends StreamOptions {
  /** Only events of these types (default: all). */
  types?: readonly T[];
  /** Start after this event (`evt_…`): what a consumer that stopped saw last. Default: live events from now. */
  after?: string;
}

export type Uploadable = Blob | Uint8Array | ArrayBuffer | string;

export interface UploadOptions extends RequestOptions {
  /** The file name sent (default: the path's base name, or the Blob's name, or `upload`). */
  name?: string;
  /** The declared type; the server judges the bytes, so leaving it out is fine. */
  mimeType?: string;
}

const TERMINAL: ReadonlySet<string> = new Set(TERMINAL_STATUSES);

/** A stream's reconnects in a row before it gives up, by default: about a minute of outage. */
const STREAM_RETRIES = 10;

/** How long `wait({ stream: true })` waits for the stream's first event (the task's state, sent at once) before polling instead. */
const FIRST_EVENT_MS = 5000;

/** A stream route this server does not have, or will not stream: polling still works. */
function streamUnavailable(error: unknown): boolean {
  return error instanceof StreamUnavailableError || (error instanceof ApiError && [404, 405, 406, 501].includes(error.status));
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
     * The task's events as they happen — its current state first (`task.queued`, `task.running`
     * or the terminal one), then each transition and `task.progress` — ending after the terminal
     * event. Dropped connections are resumed where they stopped (`Last-Event-ID`): nothing is
     * missed, nothing repeated. `for await (const event of rivya.tasks.stream(id)) …`
     */
    stream: (id: string, options: StreamOptions = {}): AsyncGenerator<TaskEvent, void, undefined> =>
      resumableEventStream<TaskEvent>({
        open: (lastEventId, signal) => this.#transport.openEventStream(`/api/v1/tasks/${encodeURIComponent(id)}/events`, { lastEventId, signal }),
        after: null,
        ...this.#streamSettings(options),
        isLast: (event) => TERMINAL.has(event.data.task.status),
      }),

    /**
     * Resolves with the task once it has ended (succeeded, failed or canceled), long-polling the
     * server (`?wait=`), so no time is spent between polls; or, with `stream: true`, following its
     * event stream (progress as it happens), long-polling where streaming is unavailable.
     */
    wait: async (id: string, options: WaitOptions = {}): Promise<Task> => {
      const asked = Number.isFinite(options.pollSeconds) ? (options.pollSeconds as number) : 20;
      const seconds = Math.max(1, Math.min(60, Math.round(asked)));
      const deadline = options.timeout === undefined ? null : attemptTimeout(options.timeout);
      const giveUp = deadline === null ? null : AbortSignal.timeout(deadline);
      const linked = linkSignals([options.signal, giveUp]);
      try {
        if (options.stream) {
          const ended = await this.#followStream(id, linked.signal, options);
          if (ended) return ended;
        }
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
      const { idempotencyKey, ...waiting } = { stream: true, ...options };
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

  readonly events = {
    /**
     * The account's event log, oldest first: await for a page, or `for await` over every event
     * after `after` (the last event a consumer handled) — how a client that was offline catches up.
     */
    list: (params: EventListParams = {}, options: RequestOptions = {}): PagePromise<RivyaEvent> => {
      const types = params.types ? params.types.join(',') : undefined;
      // The log pages by position: each page asks for the events after the previous page's last (`next_cursor`).
      return new PagePromise(
        (after) => this.#transport.request<Page<RivyaEvent>>('GET', '/api/v1/events', { ...options, query: { after, types, limit: params.limit } }),
        params.after,
      );
    },

    /**
     * The account's events as they happen (after `after` first, from the log), resumed across
     * dropped connections with nothing missed; never ends by itself (abort its `signal`, or break).
     * With `types`, the events are typed as those types.
     */
    stream: <T extends EventType = EventType>(params: EventStreamParams<T> = {}): AsyncGenerator<Extract<RivyaEvent, { type: T }>, void, undefined> => {
      const { types, after, ...options } = params;
      const query = types ? { types: types.join(',') } : {};
      return resumableEventStream<Extract<RivyaEvent, { type: T }>>({
        open: (lastEventId, signal) => this.#transport.openEventStream('/api/v1/events', { query, lastEventId, signal }),
        after: after ?? null,
        ...this.#streamSettings(options),
      });
    },
  };

  /** Where the account's events are sent, signed (Standard Webhooks). */
  readonly webhookEndpoints = {
    /** Registers an endpoint; the answer holds its signing secret (`whsec_…`), shown only here. */
    create: (params: WebhookEndpointCreateParams, options: RequestOptions = {}): Promise<WebhookEndpointWithSecret> =>
      this.#transport.request('POST', '/api/v1/webhook_endpoints', { ...options, body: params }),
    list: (params: ListParams = {}, options: RequestOptions = {}): PagePromise<WebhookEndpoint> =>
      this.#transport.list<WebhookEndpoint>('/api/v1/webhook_endpoints', params, options),
    get: (id: string, options: RequestOptions = {}): Promise<WebhookEndpoint> =>
      this.#transport.request('GET', `/api/v1/webhook_endpoints/${encodeURIComponent(id)}`, options),
    /** Changes its URL, events or description, or disables (`disabled: true`) and enables it. */
    update: (id: string, params: WebhookEndpointUpdateParams, options: RequestOptions = {}): Promise<WebhookEndpoint> =>
      this.#transport.request('PATCH', `/api/v1/webhook_endpoints/${encodeURIComponent(id)}`, { ...options, body: params }),
    delete: (id: string, options: RequestOptions = {}): Promise<{ id: string; deleted: boolean }> =>
      this.#transport.request('DELETE', `/api/v1/webhook_endpoints/${encodeURIComponent(id)}`, { ...options, goneAfterRetry: { id, deleted: true } }),
    /** A new signing secret, in this answer only; the old one keeps signing beside it for 24 h. */
    rotateSecret: (id: string, options: RequestOptions = {}): Promise<WebhookEndpointWithSecret> =>
      this.#transport.request('POST', `/api/v1/webhook_endpoints/${encodeURIComponent(id)}/rotate_secret`, options),
    /** Sends the endpoint a `webhook.test` event; answers its delivery. */
    test: (id: string, options: RequestOptions = {}): Promise<WebhookDelivery> =>
      this.#transport.request('POST', `/api/v1/webhook_endpoints/${encodeURIComponent(id)}/test`, options),
    /** The endpoint's deliveries, newest first, each with its attempts. */
    deliveries: (id: string, params: ListParams = {}, options: RequestOptions = {}): PagePromise<WebhookDelivery> =>
      this.#transport.list<WebhookDelivery>(`/api/v1/webhook_endpoints/${encodeURIComponent(id)}/deliveries`, params, options),
    /** Attempts a delivery again now (one that failed, or is waiting for its next retry). */
    retryDelivery: (id: string, deliveryId: string, options: RequestOptions = {}): Promise<WebhookDelivery> =>
      this.#transport.request('POST', `/api/v1/webhook_endpoints/${encodeURIComponent(id)}/deliveries/${encodeURIComponent(deliveryId)}/retry`, options),
  };

  /** The account's default signing secret: it signs what goes to tasks' own `webhook_url`. */
  readonly webhookSecret = {
    /** The secret (made on first request). */
    get: (options: RequestOptions = {}): Promise<WebhookSecret> => this.#transport.request('GET', '/api/v1/webhook_secret', options),
    /** A new secret; the old one keeps signing beside it for 24 h. */
    rotate: (options: RequestOptions = {}): Promise<WebhookSecret> => this.#transport.request('POST', '/api/v1/webhook_secret/rotate', options),
  };

  readonly webhooks = {
    /**
     * Checks a webhook delivery (Standard Webhooks signature and timestamp) and returns its
     * event; throws `WebhookVerificationError`. Also exported as `verifyWebhook`, which needs no client.
     */
    verify: verifyWebhook,
  };

  /** The account's own API keys. */
  readonly keys = {
    /** Live keys, newest first (prefix, name, created, last used; never the key); await for a page, or `for await` over all. */
    list: (params: ListParams = {}, options: RequestOptions = {}): PagePromise<ApiKey> =>
      this.#transport.list<ApiKey>('/api/v1/keys', params, options),
    /**
     * Makes a key; the answer holds the key, shown only here (a retried create that the server had
     * already made answers `key: null`). An account holds at most 50 live keys (`InvalidStateError`).
     */
    create: (params: ApiKeyCreateParams = {}, options: RequestOptions = {}): Promise<ApiKeyCreated> =>
      this.#transport.request('POST', '/api/v1/keys', { ...options, body: params }),
    /** Revokes a key (revoking twice is fine): requests signed with it are refused from then on. */
    revoke: (id: string, options: RequestOptions = {}): Promise<{ id: string; revoked: boolean }> =>
      this.#transport.request('DELETE', `/api/v1/keys/${encodeURIComponent(id)}`, options),
  };

  readonly account = {
    get: (options: RequestOptions = {}): Promise<Account> => this.#transport.request('GET', '/api/v1/account', options),
    /** The credit ledger, newest first; await for a page, or `for await` over every entry. */
    ledger: (params: ListParams = {}, options: RequestOptions = {}): PagePromise<LedgerEntry> =>
      this.#transport.list<LedgerEntry>('/api/v1/account/ledger', params, options),
  };

  #streamSettings(options: StreamOptions) {
    return {
      signal: options.signal,
      onConnect: options.onConnect,
      onPosition: (position: number) => this.#transport.position.raise(position),
      maxRetries: options.maxRetries === undefined ? STREAM_RETRIES : retryCount(options.maxRetries),
      timeout: options.timeout === undefined ? this.#transport.timeout : attemptTimeout(options.timeout),
    };
  }

  /**
   * Follows a task's stream to its end, telling `onProgress` of each state; null when the stream
   * is unavailable (a route this server lacks, an answer that is not a stream, or no first event
   * within a few seconds: a proxy that buffers), for the caller to poll instead.
   */
  async #followStream(id: string, signal: AbortSignal, options: WaitOptions): Promise<Task | null> {
    const silent = new AbortController();
    const linked = linkSignals([signal, silent.signal]);
    const firstEvent = setTimeout(() => silent.abort(new StreamUnavailableError(`No event of task ${id} within ${FIRST_EVENT_MS} ms.`)), FIRST_EVENT_MS);
    try {
      let task: Task | null = null;
      for await (const event of this.tasks.stream(id, { signal: linked.signal, ...(options.maxRetries === undefined ? {} : { maxRetries: options.maxRetries }) })) {
        clearTimeout(firstEvent);
        task = event.data.task;
        options.onProgress?.(task);
      }
      return task && TERMINAL.has(task.status) ? task : null;
    } catch (error) {
      if (silent.signal.aborted && !signal.aborted) return null;
      if (streamUnavailable(error)) return null;
      throw error;
    } finally {
      clearTimeout(firstEvent);
      linked.release();
    }
  }
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
