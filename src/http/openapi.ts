import { MODELS, REFERENCE_ITEMS_KEY, type ModelRecord } from '../catalog/models.js';
import { CLIENT_REQUEST_ID_MAX, WEBHOOK_EVENTS_ALL, WEBHOOK_URL_MAX } from '../catalog/validate-task-request.js';
import { EVENT_TYPES } from '../events/event-log.js';
import { TASK_ERROR_CODES, TASK_STATUSES } from '../domain.js';
import { FILE_KINDS, SUPPORTED_TYPES } from '../files/media-types.js';
import {
  API_KEY_CREATE_BODY, API_KEY_REVOKED, errors, fullObject, idempotencyHeader, idParam, json, pageOf, pageParams, positionHeader, positionHeaderAccepted,
  positionResponseHeader, ref, SHARED_SCHEMAS, TIMESTAMP, type Schema,
} from './openapi-parts.js';
import { WEBHOOK_PATHS, WEBHOOK_SCHEMAS, WEBHOOKS } from './openapi-webhooks.js';
import { MAX_ACTIVE_KEYS_PER_ACCOUNT } from './routes/keys.js';
import { SERVICE_LINKS } from './routes/service-index.js';

/** The create-task body of one model, as JSON Schema, from its catalog record. */
function createTaskSchema(model: ModelRecord): Schema {
  const params: Record<string, Schema> = {};
  for (const param of model.params) {
    // The default is told, not declared with `default`: generators such as openapi-typescript make
    // a property with a default required, which a request body's param is not.
    params[param.key] = {
      description: `${param.description}. ${param.notes}${param.default !== null ? ` Default: ${param.default}.` : ''}`,
      oneOf: [
        { type: 'string', enum: [...param.options] },
        // Numbers and booleans equal to an option are accepted and normalized to the option string.
        ...(param.options.every((o) => /^\d+$/.test(o)) ? [{ type: 'integer', enum: param.options.map(Number) }] : []),
        ...(param.options.every((o) => o === 'true' || o === 'false') ? [{ type: 'boolean' }] : []),
        // null, like leaving the key out, takes the default.
        { type: 'null' },
      ],
    };
  }
  const kinds = model.upload_policy.kinds;
  const fields = {
    url: { type: 'string', format: 'uri', description: 'The url returned by POST /api/v1/files for a file of yours.' },
    kind: { type: 'string', enum: kinds.map((k) => k.kind) },
    name: { type: 'string', minLength: 1, maxLength: 255 },
    mimeType: { type: 'string', enum: kinds.flatMap((k) => [...k.mime_types]) },
    durationToken: { type: 'string', description: 'Required for video and audio references.' },
  };
  const referenceById = {
    type: 'object',
    title: 'A file by its id',
    description: 'The server takes the url, kind, name and type from the file; any of them given here must agree with it (name excepted).',
    additionalProperties: false,
    required: ['file_id'],
    properties: { file_id: { type: 'string', pattern: '^file_[0-9A-Za-z]{1,64}$', description: 'The id returned by POST /api/v1/files.' }, ...fields },
  };
  const referenceByUrl = {
    type: 'object',
    title: 'A file by its url',
    additionalProperties: false,
    required: ['url', 'kind', 'name', 'mimeType'],
    properties: fields,
  };
  params[REFERENCE_ITEMS_KEY] = {
    type: 'array',
    maxItems: model.upload_policy.max_files,
    description: model.upload_policy.description,
    items: { oneOf: [referenceById, referenceByUrl] },
  };
  return {
    type: 'object',
    title: `Create a ${model.name} task`,
    additionalProperties: false,
    required: ['model', 'prompt'],
    properties: {
      model: { type: 'string', const: model.id },
      prompt: { type: 'string', minLength: 1, maxLength: model.prompt_max_chars, description: `At most ${model.prompt_max_chars} Unicode characters, not blank.` },
      params: { type: 'object', additionalProperties: false, properties: params },
      client_request_id: { type: ['string', 'null'], minLength: 1, maxLength: CLIENT_REQUEST_ID_MAX, description: 'Echoed back; filter lists by it.' },
      webhook_url: {
        type: ['string', 'null'], format: 'uri', minLength: 1, maxLength: WEBHOOK_URL_MAX,
        description: 'This task\'s terminal events (all of them with webhook_events) are also sent here, signed with your account\'s '
          + 'default signing secret. Not echoed in the Task object.',
      },
      webhook_events: {
        type: ['array', 'null'], items: { type: 'string', const: WEBHOOK_EVENTS_ALL }, minItems: 1, maxItems: 1,
        description: '["all"]: every event of the task goes to webhook_url (progress included); left out: its terminal events only. Only with webhook_url.',
      },
    },
    examples: [model.examples.minimal, model.examples.reference],
  };
}

/** `sora-2-pro` → `CreateSora2ProTaskRequest`: the component name of a model's create body. */
function createSchemaName(model: ModelRecord): string {
  const pascal = model.id.split(/[^A-Za-z0-9]+/).map((part) => part.charAt(0).toUpperCase() + part.slice(1)).join('');
  return `Create${pascal}TaskRequest`;
}

const MODEL_IDS_SCHEMA = { type: 'string', enum: MODELS.map((m) => m.id) };

/** The normalized params a task carries: every param of every model (as its option string), and its reference files. */
function taskParamsSchema(): Schema {
  const properties: Record<string, Schema> = {};
  for (const model of MODELS) {
    for (const param of model.params) {
      const options = new Set([...((properties[param.key]?.['enum'] as string[] | undefined) ?? []), ...param.options]);
      properties[param.key] = { type: 'string', enum: [...options], description: param.description };
    }
  }
  properties[REFERENCE_ITEMS_KEY] = {
    type: 'array',
    description: 'The reference files the task was created with (never the signed url that was sent).',
    items: fullObject({
      file_id: { type: 'string' },
      kind: { type: 'string', enum: Object.keys(FILE_KINDS) },
      name: { type: 'string' },
      mimeType: { type: 'string' },
    }),
  };
  // A param every model has, with a default, is always there.
  const always = Object.keys(properties).filter((key) =>
    MODELS.every((model) => model.params.some((param) => param.key === key && param.default !== null)));
  return {
    type: 'object',
    description: 'The params as normalized: each given or defaulted param as its option string (sora-2-pro\'s size only when given).',
    required: always,
    properties,
  };
}

const schemas: Record<string, Schema> = {
  ...SHARED_SCHEMAS,
  ApiKey: fullObject({
    id: { type: 'string' },
    prefix: { type: 'string', description: 'The start of the key, to recognise it by; the key itself is never shown again.' },
    name: { type: ['string', 'null'] },
    created_at: TIMESTAMP,
    last_used_at: { type: ['string', 'null'], format: 'date-time', description: 'When the key last authenticated a request, to the minute; null if never.' },
  }),
  ServiceIndex: fullObject({
    name: { type: 'string' },
    description: { type: 'string' },
    version: { type: 'string', description: 'The version of the service.' },
    api: fullObject({ version: { type: 'string', const: 'v1' }, base: { type: 'string', const: '/api/v1' } }),
    links: fullObject(Object.fromEntries(Object.entries(SERVICE_LINKS).map(([key, href]) => [key, { type: 'string', const: href }]))),
  }),
  SelectParam: fullObject({
    key: { type: 'string' },
    type: { type: 'string', const: 'select' },
    required: { type: 'boolean', description: 'Whether the request must name it (no catalog param is required).' },
    default: { type: ['string', 'null'], description: 'Taken when the param is left out or null; null: none (see notes).' },
    options: { type: 'array', items: { type: 'string' } },
    description: { type: 'string', description: 'The model page\'s own word for it.' },
    notes: { type: 'string', description: 'What the options mean and what happens when the param is left out.' },
  }),
  UploadPolicy: fullObject({
    description: { type: 'string' },
    max_files: { type: 'integer' },
    kinds: {
      type: 'array',
      items: fullObject({
        kind: { type: 'string', enum: Object.keys(FILE_KINDS) },
        max_bytes: { type: 'integer' },
        mime_types: { type: 'array', items: { type: 'string' } },
      }),
    },
  }),
  Model: fullObject(
    {
      id: MODEL_IDS_SCHEMA,
      name: { type: 'string' },
      description: { type: 'string' },
      category: { type: 'string', enum: ['video'] },
      inputs: { type: 'array', items: { type: 'string', enum: ['text', 'file'] } },
      files: { type: 'string', enum: ['required_for_reference_modes'] },
      credits: { type: 'integer', description: 'The price of one task, held at creation.' },
      pricing: { type: 'string', enum: ['fixed'] },
      prompt_max_chars: { type: 'integer' },
      params: { type: 'array', items: ref('SelectParam') },
      upload_policy: ref('UploadPolicy'),
      examples: fullObject({ minimal: ref('CreateTaskRequest'), reference: ref('CreateTaskRequest') }),
    },
    { examples: [MODELS[0]] },
  ),
  ...Object.fromEntries(MODELS.map((model) => [createSchemaName(model), createTaskSchema(model)])),
  CreateTaskRequest: {
    oneOf: MODELS.map((model) => ref(createSchemaName(model))),
    discriminator: { propertyName: 'model', mapping: Object.fromEntries(MODELS.map((model) => [model.id, `#/components/schemas/${createSchemaName(model)}`])) },
  },
  MediaResult: fullObject({
    url: { type: 'string', format: 'uri', description: 'Signed; expires at the result\'s expires_at.' },
    kind: { type: 'string', const: 'video' },
    name: { type: 'string' },
    mimeType: { type: 'string', const: 'video/mp4' },
    width: { type: 'integer' },
    height: { type: 'integer' },
    durationSeconds: { type: 'number' },
    sizeBytes: { type: 'integer' },
  }),
  Task: fullObject({
    id: { type: 'string' },
    status: { type: 'string', enum: [...TASK_STATUSES] },
    model: MODEL_IDS_SCHEMA,
    prompt: { type: 'string' },
    params: taskParamsSchema(),
    client_request_id: { type: ['string', 'null'] },
    reserved_credits: { type: 'integer' },
    final_credits: { type: 'integer', description: 'reserved_credits once succeeded, else 0.' },
    progress: { type: 'integer', minimum: 0, maximum: 100 },
    created_at: TIMESTAMP,
    updated_at: TIMESTAMP,
    started_at: { ...TIMESTAMP, type: ['string', 'null'] },
    completed_at: { ...TIMESTAMP, type: ['string', 'null'] },
    result: {
      oneOf: [fullObject({ media: { type: 'array', items: ref('MediaResult') }, expires_at: TIMESTAMP }), { type: 'null' }],
      description: 'Non-null only when succeeded.',
    },
    error: {
      oneOf: [fullObject({ code: { type: 'string', enum: [...TASK_ERROR_CODES] }, message: { type: 'string' } }), { type: 'null' }],
      description: 'Non-null only when failed or canceled.',
    },
  }),
  Event: fullObject({
    id: { type: 'string', description: 'evt_…: ordered within your account. Pass it as after to read on from it.' },
    type: { type: 'string', enum: [...EVENT_TYPES] },
    created_at: TIMESTAMP,
    data: {
      type: 'object',
      description: 'Task events carry the task as it was when the event happened (result URLs signed when read).',
      properties: { task: ref('Task') },
    },
  }),
  File: {
    type: 'object',
    required: ['id', 'url', 'kind', 'name', 'mimeType', 'sizeBytes', 'created_at', 'expires_at'],
    properties: {
      id: { type: 'string', description: 'Name the file by it in referenceMediaItems: {"file_id": id}.' },
      url: { type: 'string', format: 'uri', description: 'Signed until the file expires; a referenceMediaItems url.' },
      kind: { type: 'string', enum: Object.keys(FILE_KINDS) },
      name: { type: 'string' },
      mimeType: { type: 'string', enum: [...SUPPORTED_TYPES] },
      sizeBytes: { type: 'integer' },
      width: { type: 'integer', description: 'Images and videos.' },
      height: { type: 'integer', description: 'Images and videos.' },
      durationSeconds: { type: 'number', description: 'Video and audio only.' },
      durationToken: { type: 'string', description: 'Video and audio only: proof of the duration, for referenceMediaItems.' },
      created_at: TIMESTAMP,
      expires_at: TIMESTAMP,
    },
  },
  ...WEBHOOK_SCHEMAS,
};

const TAGS = [
  { name: 'Models', description: 'The public model catalog: prices, params and upload policies.' },
  { name: 'Tasks', description: 'Create video tasks (credits are held), follow them, list and cancel them.' },
  { name: 'Events', description: 'Your account\'s event log: every task transition and throttled progress, kept at least 7 days.' },
  { name: 'Files', description: 'Reference files for image-to-video, uploaded and named in referenceMediaItems.' },
  { name: 'Account', description: 'Credits, limits and the credit ledger of the key\'s account.' },
  { name: 'Keys', description: 'The account\'s own API keys: list, make (the key is shown once) and revoke.' },
  { name: 'Webhooks', description: 'Endpoints that receive signed events (Standard Webhooks), their deliveries, and the account\'s signing secret.' },
  { name: 'Service', description: 'What this service is, and this document.' },
];

const PUBLIC: Schema[] = [];

/** How an event stream is framed, for the description of each operation that sends one. */
const SSE_FORMAT = 'Server-Sent Events (`text/event-stream`): each event is a frame of `id: evt_…`, `event: <type>` and `data: <the Event as JSON>` lines, then a blank line; '
  + '`: heartbeat` comments come every 15 s; the first frame carries `retry:` (the reconnection delay, ms). '
  + 'A stream ends after RIVYA_SSE_MAX_DURATION_MS (default 1 h) or when the server shuts down: reconnect with `Last-Event-ID`. '
  + 'An API key holds at most RIVYA_MAX_STREAMS_PER_KEY streams (default 20) per server process: one more is `429 rate_limited` with `details.scope` `streams`; opening one counts as a request.';

const SSE_RESPONSE: { description: string; content: Schema } = {
  description: 'The event stream.',
  content: {
    'text/event-stream': {
      schema: { type: 'string', description: 'Frames of `id:`, `event:` and `data:` (an Event as JSON) lines, each ended by a blank line; `:` comments.' },
      example: 'retry: 2000\n\nid: evt_000000000042Ab3dE5fG7h\nevent: task.succeeded\ndata: {"id":"evt_000000000042Ab3dE5fG7h","type":"task.succeeded","created_at":"2026-05-11T00:00:10.000Z","data":{"task":{"id":"task_…","status":"succeeded"}}}\n\n: heartbeat\n\n',
    },
  },
};

const LAST_EVENT_ID: Schema = {
  name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string' },
  description: 'Streams: resume after this event (an EventSource sends it when it reconnects); it wins over `after`.',
};

/** The OpenAPI 3.1 document of the public API, derived from the catalog and the error table. */
export function buildOpenApiDocument(serverUrl: string): Schema {
  return withConsoleSessions({
    openapi: '3.1.0',
    info: {
      title: 'Rivya Public API',
      version: 'v1',
      description: 'Asynchronous video generation with sora-2 and sora-2-pro, paid in credits. '
        + 'Authenticate with `Authorization: Bearer <API key>`; the model catalog and this document are public.',
    },
    servers: [{ url: serverUrl }],
    security: [{ bearerAuth: [] }],
    tags: TAGS,
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API key (shown once when made).' } },
      schemas,
    },
    paths: {
      '/': {
        get: {
          operationId: 'getServiceIndex', summary: 'What this service is, and where its API, catalog and this document are', tags: ['Service'], security: PUBLIC,
          responses: {
            200: {
              description: 'JSON; a small HTML page with the same links when the client prefers text/html (a browser)',
              content: { 'application/json': { schema: ref('ServiceIndex') }, 'text/html': { schema: { type: 'string' } } },
            },
            ...errors(),
          },
        },
      },
      '/api/v1/models': {
        get: {
          operationId: 'listModels', summary: 'List models', tags: ['Models'], security: PUBLIC,
          responses: { 200: json(fullObject({ data: { type: 'array', items: ref('Model') } })), ...errors() },
        },
      },
      '/api/v1/models/{id}': {
        get: {
          operationId: 'getModel', summary: 'Get a model', tags: ['Models'], security: PUBLIC,
          parameters: [{ ...idParam('A model id.'), schema: MODEL_IDS_SCHEMA }],
          responses: { 200: json(ref('Model')), ...errors('not_found') },
        },
      },
      '/api/v1/openapi.json': {
        get: {
          operationId: 'getOpenApiDocument', summary: 'This document', tags: ['Service'], security: PUBLIC,
          responses: { 200: json({ type: 'object', description: 'An OpenAPI 3.1 document.' }), ...errors() },
        },
      },
      '/api/v1/tasks': {
        post: {
          operationId: 'createTask', summary: 'Create a task; its price is held from your credits', tags: ['Tasks'],
          parameters: [idempotencyHeader, positionHeaderAccepted],
          requestBody: { required: true, content: { 'application/json': { schema: ref('CreateTaskRequest') } } },
          responses: {
            201: {
              ...json(ref('Task'), 'Created; credits held'),
              headers: { Location: { description: 'The task\'s URL.', schema: { type: 'string' } }, ...positionResponseHeader(true) },
            },
            ...errors('validation_failed', 'unauthorized', 'insufficient_credits', 'idempotency_conflict', 'payload_too_large', 'rate_limited'),
          },
        },
        get: {
          operationId: 'listTasks', summary: 'List tasks, newest first', tags: ['Tasks'],
          parameters: [
            ...pageParams,
            { name: 'status', in: 'query', required: false, schema: { type: 'string', enum: [...TASK_STATUSES] } },
            { name: 'model', in: 'query', required: false, schema: MODEL_IDS_SCHEMA },
            { name: 'client_request_id', in: 'query', required: false, schema: { type: 'string' } },
          ],
          responses: { 200: json(pageOf('Task')), ...errors('validation_failed', 'unauthorized', 'rate_limited') },
        },
      },
      '/api/v1/tasks/{id}': {
        get: {
          operationId: 'getTask', summary: 'Get a task; with wait=N, answer as soon as it ends or after N seconds', tags: ['Tasks'],
          parameters: [
            idParam('A task id.'),
            { name: 'wait', in: 'query', required: false, schema: { type: 'number', minimum: 0, maximum: 60, default: 0 } },
            positionHeader,
          ],
          responses: {
            200: { ...json(ref('Task')), headers: positionResponseHeader() },
            ...errors('validation_failed', 'unauthorized', 'not_found', 'rate_limited'),
          },
        },
      },
      '/api/v1/tasks/{id}/cancel': {
        post: {
          operationId: 'cancelTask', summary: 'Cancel a queued or running task; its credits are released', tags: ['Tasks'],
          parameters: [idParam('A task id.'), idempotencyHeader, positionHeaderAccepted],
          responses: {
            200: { ...json(ref('Task')), headers: positionResponseHeader(true) },
            ...errors('unauthorized', 'not_found', 'invalid_state', 'rate_limited'),
          },
        },
      },
      '/api/v1/tasks/{id}/events': {
        get: {
          operationId: 'streamTaskEvents', summary: 'Follow one task as Server-Sent Events: its state at once, then its events, until it ends', tags: ['Events'],
          description: `${SSE_FORMAT} The first event is the task's state now, typed by its status (\`task.running\`), with the id of its latest event; then each of its events (\`task.progress\`, transitions); the stream ends after the terminal one (at once for a task that has ended). With \`Last-Event-ID\` (or \`after\`) it sends the task's events after that one instead; \`204\` when the task's terminal event is among those already seen.`,
          parameters: [
            idParam('A task id.'),
            LAST_EVENT_ID,
            { name: 'after', in: 'query', required: false, description: 'Resume after this event id (`Last-Event-ID` wins over it).', schema: { type: 'string' } },
          ],
          responses: {
            200: SSE_RESPONSE,
            204: { description: 'Resumed after the task\'s terminal event: nothing is left to send (an EventSource stops reconnecting).' },
            ...errors('validation_failed', 'unauthorized', 'not_found', 'rate_limited'),
          },
        },
      },
      '/api/v1/events': {
        get: {
          operationId: 'listEvents', summary: 'Your events, oldest first: every task transition, and progress at most every 500 ms per task', tags: ['Events'],
          description: 'JSON pages of the log; or, with `Accept: text/event-stream`, a stream of it (operation `streamEvents` of the SDK). '
            + `${SSE_FORMAT} With \`Last-Event-ID\` (what an EventSource sends when it reconnects) or \`after\`, the stream sends the log after that event, then each event as it commits: nothing is missed across a reconnect or a restart of the server, for as long as the log keeps events. `
            + 'Without either it starts live, with a first frame that carries only an `id:` (your latest event; `evt_0000000000000000000000` for an empty log), so a client that reconnects with it misses nothing either. `limit` is for pages only.',
          parameters: [
            LAST_EVENT_ID,
            {
              name: 'after', in: 'query', required: false, schema: { type: 'string' },
              description: 'An event id (or the next_cursor of a page): the events after it. It must be one of your events still kept; '
                + 'left out, the log is read from its oldest kept event.',
            },
            {
              name: 'types', in: 'query', required: false, style: 'form', explode: false,
              schema: { type: 'array', items: { type: 'string', enum: [...EVENT_TYPES] } },
              description: 'Only these event types (a comma-separated list).',
            },
            { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
          ],
          responses: {
            200: {
              description: 'A page of the log (JSON), or the stream (`Accept: text/event-stream`).',
              content: {
                'application/json': {
                  schema: fullObject({
                    data: { type: 'array', items: ref('Event') },
                    has_more: { type: 'boolean' },
                    next_cursor: { type: ['string', 'null'], description: 'The id of the page\'s last event when more follow: pass it as after.' },
                  }),
                },
                ...SSE_RESPONSE.content,
              },
            },
            ...errors('validation_failed', 'unauthorized', 'rate_limited'),
          },
        },
      },
      '/api/v1/files': {
        post: {
          operationId: 'uploadFile', summary: 'Upload a reference file (streamed; the type is judged from its bytes)', tags: ['Files'],
          parameters: [idempotencyHeader],
          requestBody: {
            required: true,
            content: {
              'multipart/form-data': {
                schema: { type: 'object', required: ['file'], properties: { file: { type: 'string', format: 'binary' } } },
                encoding: { file: { contentType: SUPPORTED_TYPES.join(', ') } },
              },
            },
          },
          responses: {
            201: json(ref('File'), 'Stored'),
            ...errors('validation_failed', 'unauthorized', 'idempotency_conflict', 'payload_too_large', 'rate_limited'),
          },
        },
        get: {
          operationId: 'listFiles', summary: 'List your live files, newest first', tags: ['Files'], parameters: pageParams,
          responses: { 200: json(pageOf('File')), ...errors('validation_failed', 'unauthorized', 'rate_limited') },
        },
      },
      '/api/v1/files/{id}': {
        get: {
          operationId: 'getFile', summary: 'Get a file (with a freshly signed url)', tags: ['Files'],
          parameters: [idParam('A file id.')],
          responses: { 200: json(ref('File')), ...errors('unauthorized', 'not_found', 'rate_limited') },
        },
        delete: {
          operationId: 'deleteFile', summary: 'Delete a file; its url and use as a reference stop working', tags: ['Files'],
          parameters: [idParam('A file id.')],
          responses: {
            200: json(fullObject({ id: { type: 'string' }, deleted: { type: 'boolean', const: true } })),
            ...errors('unauthorized', 'not_found', 'rate_limited'),
          },
        },
      },
      '/api/v1/account': {
        get: {
          operationId: 'getAccount', summary: 'Your account, credits and limits', tags: ['Account'],
          parameters: [positionHeader],
          responses: {
            200: { ...json(ref('Account')), headers: positionResponseHeader() },
            ...errors('validation_failed', 'unauthorized', 'rate_limited'),
          },
        },
      },
      '/api/v1/account/ledger': {
        get: {
          operationId: 'listLedgerEntries', summary: 'Credit ledger, newest first', tags: ['Account'], parameters: pageParams,
          responses: { 200: json(pageOf('LedgerEntry')), ...errors('validation_failed', 'unauthorized', 'rate_limited') },
        },
      },
      '/api/v1/keys': {
        get: {
          operationId: 'listApiKeys', summary: 'Your account\'s live API keys, newest first (revoked keys are not listed)', tags: ['Keys'], parameters: pageParams,
          responses: { 200: json(pageOf('ApiKey')), ...errors('validation_failed', 'unauthorized', 'rate_limited') },
        },
        post: {
          operationId: 'createApiKey',
          summary: 'Make an API key for your account (the key is shown once)',
          description: `An account holds at most ${MAX_ACTIVE_KEYS_PER_ACCOUNT} live keys: one more is \`409 invalid_state\`; revoke one first.`,
          tags: ['Keys'],
          parameters: [idempotencyHeader],
          requestBody: API_KEY_CREATE_BODY,
          responses: {
            201: json(ref('ApiKeyCreated'), 'Created'),
            ...errors('validation_failed', 'unauthorized', 'invalid_state', 'idempotency_conflict', 'rate_limited'),
          },
        },
      },
      '/api/v1/keys/{id}': {
        delete: {
          operationId: 'revokeApiKey',
          summary: 'Revoke one of your API keys (revoking twice is fine); requests signed with it are refused from then on',
          tags: ['Keys'],
          parameters: [idParam('A key id.')],
          responses: { 200: json(API_KEY_REVOKED), ...errors('unauthorized', 'not_found', 'rate_limited') },
        },
      },
      ...WEBHOOK_PATHS,
    },
    webhooks: WEBHOOKS,
  });
}

const CONSOLE_SESSION = {
  type: 'apiKey', in: 'cookie', name: 'rivya_session',
  description: 'The web console\'s session (signing in at /console exchanges an API key for it). State-changing requests '
    + 'authenticated by it must send the session\'s CSRF token in `X-CSRF-Token` and come from this site, or are 401 unauthorized.',
};

/**
 * The console's session cookie as a second way to authenticate: every operation that takes a key
 * takes the cookie too (a state-changing one answers 401 unauthorized without the session's CSRF token).
 */
function withConsoleSessions(document: Schema): Schema {
  const components = document['components'] as { securitySchemes: Record<string, Schema> };
  components.securitySchemes['consoleSession'] = CONSOLE_SESSION;
  document['security'] = [{ bearerAuth: [] }, { consoleSession: [] }];
  for (const item of Object.values(document['paths'] as Record<string, Record<string, Schema>>)) {
    for (const [method, operation] of Object.entries(item)) {
      if (!['post', 'patch', 'put', 'delete'].includes(method)) continue;
      const security = operation['security'] as unknown[] | undefined;
      if (security && security.length === 0) continue;
      const responses = operation['responses'] as Record<string, Schema>;
      responses['401'] ??= json(ref('Error'), 'unauthorized: no valid key, or a console session\'s request without its CSRF token or from another site');
    }
  }
  return document;
}
