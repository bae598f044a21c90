/**
 * The pieces both OpenAPI documents (the public API and the admin API) are built from: the
 * error envelope, the objects both return (Account, LedgerEntry), and response helpers.
 * Every schema lists in `required` each field the server always sends; a field that may be
 * null says so in its type, and one sent only sometimes is left out of `required`.
 */
import { DEFAULT_LIMITS } from '../domain.js';
import { ERROR_CODES, type ErrorCode } from '../errors.js';

export type Schema = Record<string, unknown>;

/**
 * An object the server sends with every one of these properties. Others are not ruled out
 * (a response may gain a field without breaking a client).
 */
export function fullObject(properties: Record<string, Schema>, extra: Schema = {}): Schema {
  return { type: 'object', required: Object.keys(properties), properties, ...extra };
}

export const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });

export const json = (schema: Schema, description = 'OK'): Schema => ({ description, content: { 'application/json': { schema } } });

/** The error responses of an operation: one per contract code (codes sharing a status share it), and 5XX. */
export function errors(...codes: ErrorCode[]): Record<string, Schema> {
  const byStatus = new Map<string, ErrorCode[]>();
  for (const code of codes) {
    const status = String(ERROR_CODES[code].status);
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const responses: Record<string, Schema> = {};
  for (const [status, sharing] of byStatus) responses[status] = json(ref('Error'), sharing.join(' or '));
  // Codes the table does not name (a malformed request line, say) still come in the envelope.
  if (!codes.some((code) => ERROR_CODES[code].status < 500)) responses['4XX'] = json(ref('Error'), 'A malformed request');
  responses['5XX'] = json(ref('Error'), 'internal_error, or service_unavailable (shutting down, a store unreachable) with Retry-After');
  return responses;
}

export const idempotencyHeader: Schema = {
  name: 'Idempotency-Key', in: 'header', required: false,
  schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' },
  description: 'Replays the first response for the same request (`Idempotent-Replayed: true`); kept at least 24 h.',
};

/** A position in an account's history, as `Rivya-Position` carries it (1–16 digits, at most 2^53 − 1). */
const POSITION: Schema = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER };

/** `Rivya-Position` on a read: the answer is never older than it (read-your-writes across API processes). */
export const positionHeader: Schema = {
  name: 'Rivya-Position', in: 'header', required: false, schema: POSITION,
  description:
    'The largest `Rivya-Position` this client has received, from an answer or as the 12 digits of an event id it was sent ' +
    '(the SDK, the CLI and the console send it by themselves). The answer is then never older than what the client was shown, ' +
    'whichever API process gives it. Without it, the answer is the process\'s view as it is: current within milliseconds while ' +
    'its event feed is connected, the database while it is not. Not 1–16 digits, above 2^53 − 1, or sent twice: ' +
    '`400 validation_failed` (path `Rivya-Position`).',
};

/** `Rivya-Position` on a change: accepted, since clients send it everywhere; the answer is what the request wrote. */
export const positionHeaderAccepted: Schema = {
  name: 'Rivya-Position', in: 'header', required: false, schema: POSITION,
  description: 'Accepted (clients send it on every request) and not needed here: the answer is what this request wrote, and carries its position.',
};

/** The response header of an answer with a position; `absentOnReplay`: not sent on an idempotent replay. */
export const positionResponseHeader = (absentOnReplay = false): Record<string, Schema> => ({
  'Rivya-Position': {
    description:
      'How far through the account\'s history this answer is. Send the largest received back as `Rivya-Position`, and no ' +
      `API process answers with anything older.${absentOnReplay ? ' Absent from an idempotent replay (`Idempotent-Replayed: true`).' : ''}`,
    required: !absentOnReplay,
    schema: POSITION,
  },
});

export const idParam = (description: string): Schema => ({ name: 'id', in: 'path', required: true, description, schema: { type: 'string' } });

const timestamp = { type: 'string', format: 'date-time' };

const limits = fullObject(Object.fromEntries(Object.keys(DEFAULT_LIMITS).map((key) => [key, { type: 'integer', minimum: 1 }])));

/** Schemas both documents use. */
export const SHARED_SCHEMAS: Record<string, Schema> = {
  Error: fullObject({
    error: fullObject({
      code: { type: 'string', enum: Object.keys(ERROR_CODES) },
      message: { type: 'string' },
      details: { description: 'validation_failed: a list of {path, message}; other codes: an object or null.' },
      request_id: { type: 'string', description: 'The X-Request-Id of the request; logs name it too.' },
    }),
  }),
  AccountLimits: limits,
  Account: fullObject({
    id: { type: 'string' },
    name: { type: 'string' },
    credits: fullObject({
      balance: { type: 'integer' },
      held: { type: 'integer', description: 'Held for queued and running tasks.' },
      available: { type: 'integer', description: 'balance - held: what new tasks may hold.' },
    }),
    limits: ref('AccountLimits'),
    created_at: timestamp,
  }),
  LedgerEntry: fullObject({
    id: { type: 'string' },
    type: { type: 'string', enum: ['grant', 'hold', 'capture', 'release', 'adjust'] },
    amount: { type: 'integer', description: 'A magnitude; adjust is signed.' },
    task_id: { type: ['string', 'null'] },
    balance_after: { type: 'integer', description: 'The balance after the entry (a hold or release leaves it unchanged).' },
    reason: { type: ['string', 'null'], description: 'Given with a grant or adjust.' },
    created_at: timestamp,
  }),
  ApiKeyCreated: fullObject({
    id: { type: 'string' },
    key: { type: ['string', 'null'], description: 'The secret, shown once; null in an idempotent replay.' },
    prefix: { type: 'string', description: 'The start of the key, to recognise it by.' },
    name: { type: ['string', 'null'] },
    created_at: timestamp,
  }),
};

/** A key create's body (the admin's and the self-service one): `{name?}`. */
export const API_KEY_CREATE_BODY: Schema = {
  required: false,
  content: {
    'application/json': {
      schema: { type: 'object', additionalProperties: false, properties: { name: { type: 'string', minLength: 1, maxLength: 200 } } },
    },
  },
};

/** A revoke's answer, the same whether this call or an earlier one revoked the key. */
export const API_KEY_REVOKED: Schema = fullObject({ id: { type: 'string' }, revoked: { type: 'boolean', const: true } });

export const TIMESTAMP = timestamp;

/** A page of a list, `{data, has_more, next_cursor}`. */
export const pageOf = (item: string): Schema =>
  fullObject({ data: { type: 'array', items: ref(item) }, has_more: { type: 'boolean' }, next_cursor: { type: ['string', 'null'] } });

export const pageParams: Schema[] = [
  { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
  { name: 'cursor', in: 'query', required: false, description: 'The next_cursor of the previous page.', schema: { type: 'string' } },
];
