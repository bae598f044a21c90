import { DEFAULT_LIMITS } from '../domain.js';
import {
  API_KEY_CREATE_BODY, API_KEY_REVOKED, errors, fullObject, idempotencyHeader, idParam, json, ref, SHARED_SCHEMAS, type Schema,
} from './openapi-parts.js';

const limitsInput: Schema = {
  type: 'object',
  additionalProperties: false,
  // Defaults are told, not declared with `default`: generators make a property with a default required.
  description: 'Any of the limits; those left out keep their value (a new account: the defaults).',
  properties: Object.fromEntries(
    Object.entries(DEFAULT_LIMITS).map(([key, value]) => [key, { type: 'integer', minimum: 1, maximum: 1_000_000, description: `Default: ${value}.` }]),
  ),
};

const body = (schema: Schema): Schema => ({ required: true, content: { 'application/json': { schema } } });

const schemas: Record<string, Schema> = {
  ...SHARED_SCHEMAS,
  CreditChange: fullObject({
    entry: ref('LedgerEntry'),
    account: { oneOf: [ref('Account'), { type: 'null' }] },
  }),
};

const ACCOUNT_ID = idParam('An account id.');

/**
 * The OpenAPI 3.1 document of the admin API (`/admin/v1`, enabled by `RIVYA_ADMIN_TOKEN`).
 * It is a document of its own, not part of the public one: its routes take the operator's token,
 * not an API key, and exist only where the admin API is enabled, so a client generated from the
 * public document never holds them.
 */
export function buildAdminOpenApiDocument(serverUrl: string): Schema {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Rivya Admin API',
      version: 'v1',
      description: 'Accounts, API keys, limits and credits, for the operator. Enabled only when RIVYA_ADMIN_TOKEN is set; '
        + 'every operation, this document included, takes `Authorization: Bearer <RIVYA_ADMIN_TOKEN>`.',
    },
    servers: [{ url: serverUrl }],
    security: [{ adminToken: [] }],
    tags: [
      { name: 'Accounts', description: 'Accounts and their limits.' },
      { name: 'Keys', description: 'API keys of an account.' },
      { name: 'Credits', description: 'Grants and adjustments, posted to the credit ledger.' },
      { name: 'Service', description: 'This document.' },
    ],
    components: {
      securitySchemes: { adminToken: { type: 'http', scheme: 'bearer', description: 'The value of RIVYA_ADMIN_TOKEN.' } },
      schemas,
    },
    paths: {
      '/admin/v1/openapi.json': {
        get: {
          operationId: 'getAdminOpenApiDocument', summary: 'This document', tags: ['Service'],
          responses: { 200: json({ type: 'object', description: 'An OpenAPI 3.1 document.' }), ...errors('unauthorized') },
        },
      },
      '/admin/v1/accounts': {
        post: {
          operationId: 'createAccount', summary: 'Create an account, with credits granted at once', tags: ['Accounts'],
          parameters: [idempotencyHeader],
          requestBody: body({
            type: 'object', additionalProperties: false, required: ['name'],
            properties: {
              name: { type: 'string', minLength: 1, maxLength: 200 },
              credits: { type: 'integer', minimum: 0, description: 'Granted at once. Default: 0.' },
              limits: limitsInput,
            },
          }),
          responses: { 201: json(ref('Account'), 'Created'), ...errors('validation_failed', 'unauthorized', 'idempotency_conflict') },
        },
      },
      '/admin/v1/accounts/{id}': {
        get: {
          operationId: 'getAccountAsAdmin', summary: 'Get an account', tags: ['Accounts'], parameters: [ACCOUNT_ID],
          responses: { 200: json(ref('Account')), ...errors('unauthorized', 'not_found') },
        },
        patch: {
          operationId: 'updateAccountLimits', summary: 'Change an account\'s limits', tags: ['Accounts'], parameters: [ACCOUNT_ID],
          requestBody: body({ type: 'object', additionalProperties: false, properties: { limits: limitsInput } }),
          responses: { 200: json(ref('Account')), ...errors('validation_failed', 'unauthorized', 'not_found') },
        },
      },
      '/admin/v1/accounts/{id}/keys': {
        post: {
          operationId: 'createApiKey', summary: 'Make an API key for an account (the key is shown once)', tags: ['Keys'],
          parameters: [ACCOUNT_ID, idempotencyHeader],
          requestBody: API_KEY_CREATE_BODY,
          responses: { 201: json(ref('ApiKeyCreated'), 'Created'), ...errors('validation_failed', 'unauthorized', 'not_found', 'idempotency_conflict') },
        },
      },
      '/admin/v1/keys/{id}': {
        delete: {
          operationId: 'revokeApiKey', summary: 'Revoke an API key (revoking twice is fine)', tags: ['Keys'], parameters: [idParam('A key id.')],
          responses: {
            200: json(API_KEY_REVOKED),
            ...errors('unauthorized', 'not_found'),
          },
        },
      },
      '/admin/v1/accounts/{id}/credits': {
        post: {
          operationId: 'changeCredits', summary: 'Grant credits, or (a negative amount) take them back', tags: ['Credits'],
          parameters: [ACCOUNT_ID, idempotencyHeader],
          requestBody: body({
            type: 'object', additionalProperties: false, required: ['amount', 'reason'],
            properties: {
              amount: { type: 'integer', minimum: -1e12, maximum: 1e12, not: { const: 0 }, description: 'A grant if positive; an adjust if negative.' },
              reason: { type: 'string', minLength: 1, maxLength: 500 },
            },
          }),
          responses: {
            201: json(ref('CreditChange'), 'Posted'),
            ...errors('validation_failed', 'unauthorized', 'insufficient_credits', 'not_found', 'idempotency_conflict'),
          },
        },
      },
    },
  };
}
