/**
 * The webhook part of the public OpenAPI document: the endpoint and delivery routes, their
 * schemas, the event a receiver gets, and (OpenAPI 3.1 `webhooks`) the request Rivya sends.
 */
import { TASK_EVENT_TYPES } from '../events/event-log.js';
import { DEFAULT_ENDPOINT_EVENTS } from '../webhooks/endpoint-events.js';
import { MAX_ENDPOINTS_PER_ACCOUNT } from '../webhooks/endpoint-store.js';
import { WEBHOOK_URL_MAX } from '../webhooks/webhook-url.js';
import { errors, fullObject, idempotencyHeader, idParam, json, pageOf, pageParams, ref, TIMESTAMP, type Schema } from './openapi-parts.js';

const nullableTime = { ...TIMESTAMP, type: ['string', 'null'] };
const EVENT_ID = { type: 'string', pattern: '^evt_[0-9]{12}[0-9A-Za-z]{10}$', description: 'Sorts like the event\'s position in the account\'s log; a webhook.test event\'s position is 0 (it is not in the log).' };
const URL_RULES = `https only, at most ${WEBHOOK_URL_MAX} characters, no credentials, and a host whose every address is public (not private, loopback, link-local, unique-local, carrier-grade NAT, multicast, unspecified or a cloud metadata address); checked when registered and again when each delivery connects. The server's RIVYA_WEBHOOKS_ALLOW_INSECURE=true (development) allows http and any address.`;
const EVENTS_FIELD = {
  type: 'array',
  minItems: 1,
  items: { type: 'string', enum: [...TASK_EVENT_TYPES, '*'] },
  description: `The event types sent to it; ["*"] for every type, now and to come. Left out: ${DEFAULT_ENDPOINT_EVENTS.join(', ')} — not task.progress, which comes every 500 ms while a task runs (list it to get it).`,
};
const SECRET = { type: 'string', pattern: '^whsec_[A-Za-z0-9+/=]+$', description: 'whsec_ + the base64 of 32 random bytes: the key is the decoded bytes.' };

const ENDPOINT_FIELDS: Record<string, Schema> = {
  id: { type: 'string' },
  url: { type: 'string', format: 'uri' },
  description: { type: ['string', 'null'] },
  events: EVENTS_FIELD,
  disabled: { type: 'boolean', description: 'A disabled endpoint gets no new deliveries and its pending ones stop.' },
  disabled_reason: { type: ['string', 'null'], description: 'Why: by the client, a 410 Gone, or 3 days of failed attempts.' },
  disabled_at: nullableTime,
  created_at: TIMESTAMP,
  updated_at: TIMESTAMP,
};

export const WEBHOOK_SCHEMAS: Record<string, Schema> = {
  WebhookEndpoint: fullObject(ENDPOINT_FIELDS),
  WebhookEndpointWithSecret: fullObject({
    ...ENDPOINT_FIELDS,
    secret: { ...SECRET, type: ['string', 'null'], description: `${SECRET.description} Shown in this answer only; null when an Idempotency-Key replays it.` },
  }),
  WebhookAttempt: fullObject({
    attempt: { type: 'integer', minimum: 1 },
    started_at: TIMESTAMP,
    status_code: { type: ['integer', 'null'], description: 'The receiver\'s status; null when none came (refused, unreachable, timed out).' },
    latency_ms: { type: 'integer', description: 'From the start of the attempt to the response\'s head, or to the failure.' },
    error: { type: ['string', 'null'], description: 'Why it failed; null for a 2xx.' },
    response_body: { type: ['string', 'null'], description: 'The first 1 KB of the receiver\'s answer.' },
    next_retry_at: { ...nullableTime, description: 'When the next attempt was scheduled after this one; null after the last.' },
  }),
  WebhookDelivery: fullObject({
    id: { type: 'string' },
    endpoint_id: { type: 'string' },
    event_id: EVENT_ID,
    event_type: { type: 'string' },
    status: { type: 'string', enum: ['pending', 'succeeded', 'failed', 'canceled'], description: 'failed: the schedule was spent or the receiver answered 410; canceled: the endpoint was disabled.' },
    next_retry_at: { ...nullableTime, description: 'When the next attempt is due (pending only).' },
    created_at: TIMESTAMP,
    updated_at: TIMESTAMP,
    attempts: { type: 'array', items: ref('WebhookAttempt'), description: 'Oldest first.' },
  }),
  WebhookSecret: fullObject({ secret: { ...SECRET, type: ['string', 'null'], description: `${SECRET.description} null when an Idempotency-Key replays a rotation.` } }),
};

const endpointId = idParam('A webhook endpoint id.');
const endpointErrors = errors('unauthorized', 'not_found', 'rate_limited');

export const WEBHOOK_PATHS: Record<string, Schema> = {
  '/api/v1/webhook_endpoints': {
    post: {
      operationId: 'createWebhookEndpoint', summary: 'Register a webhook endpoint; its signing secret is in this answer only', tags: ['Webhooks'],
      parameters: [idempotencyHeader],
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: {
              type: 'object', additionalProperties: false, required: ['url'],
              properties: {
                url: { type: 'string', format: 'uri', maxLength: WEBHOOK_URL_MAX, description: URL_RULES },
                events: EVENTS_FIELD,
                description: { type: ['string', 'null'], maxLength: 500 },
              },
            },
          },
        },
      },
      responses: {
        201: {
          ...json(ref('WebhookEndpointWithSecret'), 'Created'),
          headers: { Location: { description: 'The endpoint\'s URL.', schema: { type: 'string' } } },
        },
        ...errors('validation_failed', 'unauthorized', 'idempotency_conflict', 'invalid_state', 'rate_limited'),
      },
      description: `An account has at most ${MAX_ENDPOINTS_PER_ACCOUNT} endpoints: one more is 409 invalid_state (details.limit) until one is deleted. A refused URL is 400 validation_failed on url.`,
    },
    get: {
      operationId: 'listWebhookEndpoints', summary: 'List your webhook endpoints, newest first', tags: ['Webhooks'], parameters: pageParams,
      responses: { 200: json(pageOf('WebhookEndpoint')), ...errors('validation_failed', 'unauthorized', 'rate_limited') },
    },
  },
  '/api/v1/webhook_endpoints/{id}': {
    get: {
      operationId: 'getWebhookEndpoint', summary: 'Get a webhook endpoint (never its secret)', tags: ['Webhooks'], parameters: [endpointId],
      responses: { 200: json(ref('WebhookEndpoint')), ...endpointErrors },
    },
    patch: {
      operationId: 'updateWebhookEndpoint', summary: 'Change an endpoint\'s URL, events or description; disable or enable it', tags: ['Webhooks'],
      parameters: [endpointId],
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: {
              type: 'object', additionalProperties: false,
              properties: {
                url: { type: 'string', format: 'uri', maxLength: WEBHOOK_URL_MAX, description: URL_RULES },
                events: EVENTS_FIELD,
                description: { type: ['string', 'null'], maxLength: 500, description: 'null clears it.' },
                disabled: { type: 'boolean', description: 'true stops its pending deliveries; false enables it again (stopped deliveries can be retried).' },
              },
            },
          },
        },
      },
      responses: { 200: json(ref('WebhookEndpoint')), ...errors('validation_failed', 'unauthorized', 'not_found', 'rate_limited') },
    },
    delete: {
      operationId: 'deleteWebhookEndpoint', summary: 'Delete an endpoint and its deliveries', tags: ['Webhooks'], parameters: [endpointId],
      responses: { 200: json(fullObject({ id: { type: 'string' }, deleted: { type: 'boolean', const: true } })), ...endpointErrors },
    },
  },
  '/api/v1/webhook_endpoints/{id}/rotate_secret': {
    post: {
      operationId: 'rotateWebhookEndpointSecret', summary: 'A new signing secret; the old one also signs for 24 h', tags: ['Webhooks'],
      parameters: [endpointId, idempotencyHeader],
      responses: { 200: json(ref('WebhookEndpointWithSecret')), ...errors('validation_failed', 'unauthorized', 'not_found', 'idempotency_conflict', 'rate_limited') },
    },
  },
  '/api/v1/webhook_endpoints/{id}/test': {
    post: {
      operationId: 'testWebhookEndpoint', summary: 'Send a webhook.test event to this endpoint', tags: ['Webhooks'],
      description: 'Delivered like any event (signed, retried, its attempts listed), to this endpoint only; it is not written to the account\'s event log.',
      parameters: [endpointId, idempotencyHeader],
      responses: {
        202: json(ref('WebhookDelivery'), 'Queued: its attempts appear in the endpoint\'s deliveries'),
        ...errors('validation_failed', 'unauthorized', 'not_found', 'idempotency_conflict', 'invalid_state', 'rate_limited'),
      },
    },
  },
  '/api/v1/webhook_endpoints/{id}/deliveries': {
    get: {
      operationId: 'listWebhookDeliveries', summary: 'The endpoint\'s deliveries, newest first, each with its attempts', tags: ['Webhooks'],
      parameters: [endpointId, ...pageParams],
      responses: { 200: json(pageOf('WebhookDelivery')), ...errors('validation_failed', 'unauthorized', 'not_found', 'rate_limited') },
    },
  },
  '/api/v1/webhook_endpoints/{id}/deliveries/{delivery_id}/retry': {
    post: {
      operationId: 'retryWebhookDelivery', summary: 'Make a new attempt now, for a delivery that failed, was stopped or waits for its next retry', tags: ['Webhooks'],
      parameters: [endpointId, { name: 'delivery_id', in: 'path', required: true, description: 'A delivery id.', schema: { type: 'string' } }, idempotencyHeader],
      responses: {
        202: json(ref('WebhookDelivery'), 'Queued'),
        ...errors('validation_failed', 'unauthorized', 'not_found', 'idempotency_conflict', 'invalid_state', 'rate_limited'),
      },
      description: 'A delivery that succeeded, one with an attempt under way, one that had 25 attempts, or one of a disabled endpoint is 409 invalid_state.',
    },
  },
  '/api/v1/webhook_secret': {
    get: {
      operationId: 'getWebhookSecret', summary: 'The account\'s default signing secret, made on first request', tags: ['Webhooks'],
      description: 'It signs the deliveries to tasks\' own webhook_url.',
      responses: { 200: json(ref('WebhookSecret')), ...errors('unauthorized', 'rate_limited') },
    },
  },
  '/api/v1/webhook_secret/rotate': {
    post: {
      operationId: 'rotateWebhookSecret', summary: 'A new default signing secret; the old one also signs for 24 h', tags: ['Webhooks'],
      parameters: [idempotencyHeader],
      responses: { 200: json(ref('WebhookSecret')), ...errors('validation_failed', 'unauthorized', 'idempotency_conflict', 'rate_limited') },
    },
  },
};

/** OpenAPI 3.1 `webhooks`: the request a receiver gets. */
export const WEBHOOKS: Record<string, Schema> = {
  event: {
    post: {
      operationId: 'receiveEvent',
      summary: 'An event, sent to each endpoint subscribed to its type and to a task\'s own webhook_url',
      description: 'Standard Webhooks: verify webhook-signature before trusting the body. Only a 2xx answer within 15 s counts; anything else (a 3xx too: redirects are not followed) is retried at about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h, later if Retry-After asks (429, 503); 410 disables the endpoint. Delivery is at least once: deduplicate by webhook-id.',
      tags: ['Webhooks'],
      security: [],
      parameters: [
        { name: 'webhook-id', in: 'header', required: true, description: 'The event\'s id: the same on every retry.', schema: EVENT_ID },
        { name: 'webhook-timestamp', in: 'header', required: true, description: 'Unix seconds of this attempt.', schema: { type: 'string', pattern: '^[0-9]+$' } },
        {
          name: 'webhook-signature', in: 'header', required: true,
          description: 'Space-separated `v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`, one per secret that signs (two for 24 h after a rotation; each rotated-out secret signs for its own 24 h).',
          schema: { type: 'string' },
        },
      ],
      requestBody: { required: true, content: { 'application/json': { schema: ref('Event') } } },
      responses: { 200: { description: 'Any 2xx: received' } },
    },
  },
};
