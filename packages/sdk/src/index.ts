export { Rivya, RivyaAdmin } from './client.js';
export type {
  ClientOptions, EventStreamParams, RequestOptions, RunOptions, StreamOptions, UploadOptions, Uploadable, WaitOptions,
} from './client.js';
export * from './errors.js';
export { PagePromise } from './pagination.js';
export { CATALOG, EVENT_TYPES, TASK_EVENT_TYPES } from './catalog.js';
export { EventStreamParser } from './event-stream-parser.js';
export type { EventStreamHandlers, ServerSentEvent } from './event-stream-parser.js';
export { verifyWebhook, WebhookVerificationError } from './webhook-verification.js';
export type { VerifyOptions, WebhookHeaders, WebhookVerificationFailure } from './webhook-verification.js';
export type * from './types.js';
