import { MODELS, REFERENCE_ITEMS_KEY, type ModelRecord } from '../catalog/models.js';
import { CLIENT_REQUEST_ID_MAX } from '../catalog/validate-task-request.js';
import { ERROR_CODES } from '../errors.js';
import { TASK_ERROR_CODES, TASK_STATUSES } from '../domain.js';
import { FILE_KINDS, SUPPORTED_TYPES } from '../files/media-types.js';

type Schema = Record<string, unknown>;

/** The create-task body of one model, as JSON Schema, from its catalog record. */
function createTaskSchema(model: ModelRecord): Schema {
  const params: Record<string, Schema> = {};
  for (const param of model.params) {
    params[param.key] = {
      description: `${param.description}. ${param.notes}`,
      oneOf: [
        { type: 'string', enum: [...param.options] },
        // Numbers and booleans equal to an option are accepted and normalized to the option string.
        ...(param.options.every((o) => /^\d+$/.test(o)) ? [{ type: 'integer', enum: param.options.map(Number) }] : []),
        ...(param.options.every((o) => o === 'true' || o === 'false') ? [{ type: 'boolean' }] : []),
        // null, like leaving the key out, takes the default.
        { type: 'null' },
      ],
      ...(param.default !== null ? { default: param.default } : {}),
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
      client_request_id: { type: 'string', minLength: 1, maxLength: CLIENT_REQUEST_ID_MAX },
    },
    examples: [model.examples.minimal, model.examples.reference],
  };
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Schema, description = 'OK') => ({ description, content: { 'application/json': { schema } } });
const errors = (...codes: (keyof typeof ERROR_CODES)[]) =>
  Object.fromEntries(codes.map((code) => [String(ERROR_CODES[code].status), json(ref('Error'), code)]));
const bearer = [{ bearerAuth: [] }];
const pageOf = (item: string) => ({
  type: 'object',
  required: ['data', 'has_more', 'next_cursor'],
  properties: { data: { type: 'array', items: ref(item) }, has_more: { type: 'boolean' }, next_cursor: { type: ['string', 'null'] } },
});
const idempotencyHeader = {
  name: 'Idempotency-Key', in: 'header', required: false,
  schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' },
  description: 'Replays the first response for the same request; kept at least 24 h.',
};
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const pageParams = [
  { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
  { name: 'cursor', in: 'query', schema: { type: 'string' } },
];

/** The OpenAPI 3.1 document of the public API, derived from the catalog and the error table. */
export function buildOpenApiDocument(serverUrl: string): Schema {
  return {
    openapi: '3.1.0',
    info: { title: 'Rivya Public API', version: 'v1', description: 'Asynchronous video generation with sora-2 and sora-2-pro, paid in credits.' },
    servers: [{ url: serverUrl }],
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message', 'details', 'request_id'],
              properties: {
                code: { type: 'string', enum: Object.keys(ERROR_CODES) },
                message: { type: 'string' },
                details: {},
                request_id: { type: 'string' },
              },
            },
          },
        },
        Model: { type: 'object', examples: [MODELS[0]] },
        CreateTaskRequest: { oneOf: MODELS.map((model) => createTaskSchema(model)), discriminator: { propertyName: 'model' } },
        Task: {
          type: 'object',
          properties: {
            id: { type: 'string' }, status: { type: 'string', enum: [...TASK_STATUSES] }, model: { type: 'string' },
            prompt: { type: 'string' }, params: { type: 'object' }, client_request_id: { type: ['string', 'null'] },
            reserved_credits: { type: 'integer' }, final_credits: { type: 'integer' },
            progress: { type: 'integer', minimum: 0, maximum: 100 },
            created_at: { type: 'string', format: 'date-time' }, updated_at: { type: 'string', format: 'date-time' },
            started_at: { type: ['string', 'null'], format: 'date-time' }, completed_at: { type: ['string', 'null'], format: 'date-time' },
            result: {
              type: ['object', 'null'],
              properties: {
                media: {
                  type: 'array',
                  items: {
                    type: 'object',
                    properties: {
                      url: { type: 'string' }, kind: { const: 'video' }, name: { type: 'string' }, mimeType: { const: 'video/mp4' },
                      width: { type: 'integer' }, height: { type: 'integer' }, durationSeconds: { type: 'number' }, sizeBytes: { type: 'integer' },
                    },
                  },
                },
                expires_at: { type: 'string', format: 'date-time' },
              },
            },
            error: {
              type: ['object', 'null'],
              properties: { code: { type: 'string', enum: [...TASK_ERROR_CODES] }, message: { type: 'string' } },
            },
          },
        },
        Account: {
          type: 'object',
          properties: {
            id: { type: 'string' }, name: { type: 'string' },
            credits: { type: 'object', properties: { balance: { type: 'integer' }, held: { type: 'integer' }, available: { type: 'integer' } } },
            limits: {
              type: 'object',
              properties: { creates_per_minute: { type: 'integer' }, requests_per_minute: { type: 'integer' }, active_tasks: { type: 'integer' } },
            },
          },
        },
        File: {
          type: 'object',
          required: ['id', 'url', 'kind', 'name', 'mimeType', 'sizeBytes', 'created_at', 'expires_at'],
          properties: {
            id: { type: 'string' },
            url: { type: 'string', description: 'Signed; use it as a referenceMediaItems url.' },
            kind: { type: 'string', enum: Object.keys(FILE_KINDS) }, name: { type: 'string' },
            mimeType: { type: 'string', enum: [...SUPPORTED_TYPES] }, sizeBytes: { type: 'integer' },
            width: { type: 'integer' }, height: { type: 'integer' },
            durationSeconds: { type: 'number', description: 'Video and audio only.' },
            durationToken: { type: 'string', description: 'Video and audio only: proof of the duration, for referenceMediaItems.' },
            created_at: { type: 'string', format: 'date-time' }, expires_at: { type: 'string', format: 'date-time' },
          },
        },
        LedgerEntry: {
          type: 'object',
          properties: {
            id: { type: 'string' }, type: { type: 'string', enum: ['grant', 'hold', 'capture', 'release', 'adjust'] },
            amount: { type: 'integer' }, task_id: { type: ['string', 'null'] }, balance_after: { type: 'integer' },
            created_at: { type: 'string', format: 'date-time' },
          },
        },
      },
    },
    paths: {
      '/api/v1/models': { get: { summary: 'List models', responses: { 200: json({ type: 'object', properties: { data: { type: 'array', items: ref('Model') } } }) } } },
      '/api/v1/models/{id}': {
        get: {
          summary: 'Get a model',
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', enum: MODELS.map((m) => m.id) } }],
          responses: { 200: json(ref('Model')), ...errors('not_found') },
        },
      },
      '/api/v1/tasks': {
        post: {
          summary: 'Create a task', security: bearer, parameters: [idempotencyHeader],
          requestBody: { required: true, content: { 'application/json': { schema: ref('CreateTaskRequest') } } },
          responses: {
            201: json(ref('Task'), 'Created; credits held'),
            ...errors('validation_failed', 'unauthorized', 'insufficient_credits', 'idempotency_conflict', 'payload_too_large', 'rate_limited'),
          },
        },
        get: {
          summary: 'List tasks, newest first', security: bearer,
          parameters: [
            ...pageParams,
            { name: 'status', in: 'query', schema: { type: 'string', enum: [...TASK_STATUSES] } },
            { name: 'model', in: 'query', schema: { type: 'string', enum: MODELS.map((m) => m.id) } },
            { name: 'client_request_id', in: 'query', schema: { type: 'string' } },
          ],
          responses: { 200: json(pageOf('Task')), ...errors('validation_failed', 'unauthorized', 'rate_limited') },
        },
      },
      '/api/v1/tasks/{id}': {
        get: {
          summary: 'Get a task; with wait=N, answer as soon as it ends or after N seconds', security: bearer,
          parameters: [
            idParam,
            { name: 'wait', in: 'query', schema: { type: 'number', minimum: 0, maximum: 60, default: 0 } },
          ],
          responses: { 200: json(ref('Task')), ...errors('validation_failed', 'unauthorized', 'not_found', 'rate_limited') },
        },
      },
      '/api/v1/tasks/{id}/cancel': {
        post: {
          summary: 'Cancel a queued or running task; its credits are released', security: bearer,
          parameters: [idParam, idempotencyHeader],
          responses: { 200: json(ref('Task')), ...errors('unauthorized', 'not_found', 'invalid_state', 'rate_limited') },
        },
      },
      '/api/v1/files': {
        post: {
          summary: 'Upload a reference file (streamed; the type is judged from its bytes)', security: bearer, parameters: [idempotencyHeader],
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
          summary: 'List your live files, newest first', security: bearer, parameters: pageParams,
          responses: { 200: json(pageOf('File')), ...errors('validation_failed', 'unauthorized', 'rate_limited') },
        },
      },
      '/api/v1/files/{id}': {
        get: {
          summary: 'Get a file (with a freshly signed url)', security: bearer,
          parameters: [idParam],
          responses: { 200: json(ref('File')), ...errors('unauthorized', 'not_found', 'rate_limited') },
        },
        delete: {
          summary: 'Delete a file', security: bearer,
          parameters: [idParam],
          responses: {
            200: json({ type: 'object', properties: { id: { type: 'string' }, deleted: { const: true } } }),
            ...errors('unauthorized', 'not_found', 'rate_limited'),
          },
        },
      },
      '/api/v1/account': {
        get: { summary: 'Your account, credits and limits', security: bearer, responses: { 200: json(ref('Account')), ...errors('unauthorized', 'rate_limited') } },
      },
      '/api/v1/account/ledger': {
        get: {
          summary: 'Credit ledger, newest first', security: bearer, parameters: pageParams,
          responses: { 200: json(pageOf('LedgerEntry')), ...errors('validation_failed', 'unauthorized', 'rate_limited') },
        },
      },
    },
  };
}
