import type { CATALOG, EVENT_TYPES, TASK_ERROR_CODES, TASK_EVENT_TYPES, TASK_STATUSES } from './catalog.js';

type Catalog = (typeof CATALOG)[number];

/** The model ids, from the catalog. */
export type ModelId = Catalog['id'];

type ParamsRecord<M extends ModelId> = Extract<Catalog, { id: M }>['params'];

type AnyParamKey = { [M in ModelId]: keyof ParamsRecord<M> }[ModelId];

/**
 * The select parameters of model `M`, each limited to its options: `size` exists for
 * `sora-2-pro` only (for `sora-2` it is `never`, so even a non-literal object with it is refused).
 */
export type ModelParams<M extends ModelId> = {
  -readonly [K in keyof ParamsRecord<M>]?: ParamsRecord<M>[K] extends { options: readonly (infer O)[] } ? OptionValue<O> : never;
} & { [K in Exclude<AnyParamKey, keyof ParamsRecord<M>>]?: never };

/** An option as the catalog writes it, or as its JSON number or boolean (`'15'` or `15`, `'true'` or `true`). */
type OptionValue<O> = O | (O extends `${infer N extends number}` ? N : never) | (O extends `${infer B extends boolean}` ? B : never);

/**
 * A reference file for reference modes: an uploaded file (from `files.upload`), by its id alone
 * (`{ file_id: file.id }`: the server fills in its url, kind, name and type), or in the long form
 * by its `url` with its `kind`, `name` and `mimeType`. Fields given beside `file_id` must agree
 * with the file, except `name`, which is yours to choose.
 */
export type ReferenceMediaItem =
  | ({ file_id: string } & Partial<ReferenceFields>)
  | ({ file_id?: never } & ReferenceFields);

interface ReferenceFields {
  url: string;
  /** The catalog's models take image references. */
  kind: 'image';
  name: string;
  mimeType: string;
  /** For video and audio references: the `durationToken` the upload returned. */
  durationToken?: string;
}

/** `POST /api/v1/tasks`, typed per model. */
export type CreateTaskParams = {
  [M in ModelId]: {
    model: M;
    prompt: string;
    params?: ModelParams<M> & { referenceMediaItems?: ReferenceMediaItem[] };
    client_request_id?: string;
    /**
     * Where this task's terminal events also go, signed with the account's default secret
     * (`webhookSecret.get()`); `https` and a public address unless the server allows otherwise.
     */
    webhook_url?: string;
    /** `['all']`: every event of the task goes to `webhook_url`, progress too (default: its terminal events). */
    webhook_events?: ['all'];
  };
}[ModelId];

export type TaskStatus = (typeof TASK_STATUSES)[number];
export type TaskErrorCode = (typeof TASK_ERROR_CODES)[number];

export interface MediaResult {
  url: string;
  kind: 'video';
  name: string;
  mimeType: string;
  width: number;
  height: number;
  durationSeconds: number;
  sizeBytes: number;
}

export interface Task {
  id: string;
  status: TaskStatus;
  model: ModelId;
  prompt: string;
  params: Record<string, unknown>;
  client_request_id: string | null;
  reserved_credits: number;
  final_credits: number;
  progress: number;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  completed_at: string | null;
  result: { media: MediaResult[]; expires_at: string } | null;
  error: { code: TaskErrorCode; message: string } | null;
}

export interface SelectParamInfo {
  key: string;
  type: 'select';
  required: boolean;
  default: string | null;
  options: string[];
  /** The model page's own word for it (`Duration`). */
  description: string;
  /** What the options mean, and what happens when the parameter is left out. */
  notes: string;
}

export interface Model {
  id: ModelId;
  name: string;
  description: string;
  category: string;
  inputs: string[];
  credits: number;
  pricing: string;
  prompt_max_chars: number;
  params: SelectParamInfo[];
  upload_policy: { description: string; max_files: number; kinds: { kind: string; max_bytes: number; mime_types: string[] }[] };
  [key: string]: unknown;
}

export interface FileObject {
  id: string;
  url: string;
  kind: 'image' | 'video' | 'audio';
  name: string;
  mimeType: string;
  sizeBytes: number;
  width?: number;
  height?: number;
  durationSeconds?: number;
  durationToken?: string;
  created_at: string;
  expires_at: string;
}

export interface AccountLimits {
  creates_per_minute: number;
  requests_per_minute: number;
  active_tasks: number;
}

export interface Account {
  id: string;
  name: string;
  credits: { balance: number; held: number; available: number };
  limits: AccountLimits;
  created_at: string;
}

export interface LedgerEntry {
  id: string;
  type: 'grant' | 'hold' | 'capture' | 'release' | 'adjust';
  amount: number;
  task_id: string | null;
  balance_after: number;
  reason: string | null;
  created_at: string;
}

/** Every type of event in an account's log. */
export type EventType = (typeof EVENT_TYPES)[number];
/** The events of a task: its transitions, and `task.progress` (at most every 500 ms while it runs). */
export type TaskEventType = (typeof TASK_EVENT_TYPES)[number];

/** A task event: the task as it was when the event happened. */
export interface TaskEvent<T extends TaskEventType = TaskEventType> {
  /** `evt_…`: the event's place in the account's log (later events sort after it); a webhook's `webhook-id`. */
  id: string;
  type: T;
  created_at: string;
  data: { task: Task };
}

/** The event `POST /api/v1/webhook_endpoints/{id}/test` sends to that endpoint only (it is not in the log). */
export interface WebhookTestEvent {
  id: string;
  type: 'webhook.test';
  created_at: string;
  /** Empty: a test event is about no task. */
  data: { task?: never };
}

/**
 * An event of the account's log, as `events.list`, the streams and webhooks deliver it:
 * narrow it on `type` (`task.succeeded` carries the succeeded task in `data.task`).
 */
export type RivyaEvent = { [T in TaskEventType]: TaskEvent<T> }[TaskEventType] | WebhookTestEvent;

/** What a webhook endpoint subscribes to: event types (`task.progress` too), or `'*'` for every one. */
export type WebhookEventFilter = TaskEventType | '*';

/** A webhook endpoint (its secret is shown only when it is made or rotated). */
export interface WebhookEndpoint {
  id: string;
  url: string;
  description: string | null;
  /** Default: every task status event, not `task.progress`. */
  events: WebhookEventFilter[];
  disabled: boolean;
  /** Why it was disabled: by you, a `410 Gone`, or days of failed deliveries. */
  disabled_reason: string | null;
  disabled_at: string | null;
  created_at: string;
  updated_at: string;
}

/** An endpoint as `create` and `rotateSecret` answer it: with its signing secret. */
export interface WebhookEndpointWithSecret extends WebhookEndpoint {
  /** `whsec_…`, shown only here; null on an idempotent replay (the first answer held it). */
  secret: string | null;
}

export interface WebhookEndpointCreateParams {
  /** `https` (and a public address) unless the server allows otherwise. */
  url: string;
  events?: WebhookEventFilter[];
  description?: string;
}

export interface WebhookEndpointUpdateParams {
  url?: string;
  events?: WebhookEventFilter[];
  description?: string | null;
  /** true stops deliveries; false starts them again. */
  disabled?: boolean;
}

/** One attempt to deliver an event to an endpoint. */
export interface WebhookDeliveryAttempt {
  attempt: number;
  started_at: string;
  /** The receiver's HTTP status; null when no answer came (timeout, refused connection). */
  status_code: number | null;
  latency_ms: number | null;
  error: string | null;
  response_body: string | null;
  next_retry_at: string | null;
}

/** One event on its way to one endpoint, with every attempt made so far. */
export interface WebhookDelivery {
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: EventType;
  status: 'pending' | 'succeeded' | 'failed' | 'canceled';
  next_retry_at: string | null;
  created_at: string;
  updated_at: string;
  attempts: WebhookDeliveryAttempt[];
}

/** The account's default signing secret (for tasks' own `webhook_url`). */
export interface WebhookSecret {
  /** `whsec_…`; null on an idempotent replay of a rotation. */
  secret: string | null;
}

/** One page of a list. */
export interface Page<T> {
  data: T[];
  has_more: boolean;
  next_cursor: string | null;
}

export interface ListParams {
  limit?: number;
  cursor?: string;
}

/** `events.list`: the log after an event, of some types. */
export interface EventListParams {
  /** Page size (1–100). */
  limit?: number;
  /** Events after this one (`evt_…`, or a page's `next_cursor`), exclusive. Default: from the oldest event kept. */
  after?: string;
  /** Only events of these types. */
  types?: readonly EventType[];
}

export interface TaskListParams extends ListParams {
  status?: TaskStatus;
  model?: ModelId;
  client_request_id?: string;
}

/** Admin API objects. */
export type AdminAccount = Account;
export interface ApiKeyCreated {
  id: string;
  /** The secret, shown once; null on an idempotent replay (the first answer held it). */
  key: string | null;
  prefix: string;
  name: string | null;
  created_at: string;
}

/** One of the account's live API keys, as `keys.list` gives it: never the key itself. */
export interface ApiKey {
  id: string;
  /** The start of the key, to recognise it by. */
  prefix: string;
  name: string | null;
  created_at: string;
  /** When the key last authenticated a request, to the minute; null if never. */
  last_used_at: string | null;
}

/** `keys.create`: an optional name (1–200 characters). */
export interface ApiKeyCreateParams {
  name?: string;
}
