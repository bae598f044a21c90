import type { FastifyReply, FastifyRequest } from 'fastify';
import { validationFailed } from '../errors.js';
import { isValidIdempotencyKey, requestFingerprint } from '../idempotency/canonical-json.js';
import type { IdempotencyOutcome, IdempotentRequest } from '../idempotency/idempotency-store.js';

/**
 * The request's idempotency identity, or null without an `Idempotency-Key` header. `body` is
 * what the fingerprint covers (default: the parsed body; null for a streamed upload).
 */
export function idempotencyOf(request: FastifyRequest, scope: string, body: unknown = request.body): IdempotentRequest | null {
  const header = request.headers['idempotency-key'];
  if (header === undefined) return null;
  if (typeof header !== 'string' || !isValidIdempotencyKey(header)) {
    throw validationFailed([{ path: 'Idempotency-Key', message: 'Must be 1 to 255 visible ASCII characters, sent once.' }]);
  }
  const path = request.url.split('?')[0] ?? request.url;
  return { scope, key: header, fingerprint: requestFingerprint(request.method, path, body) };
}

/** Sends an idempotent request's outcome: its status and body, marked `Idempotent-Replayed` when replayed. */
export function sendOutcome(reply: FastifyReply, outcome: IdempotencyOutcome): FastifyReply {
  if (outcome.replayed) void reply.header('idempotent-replayed', 'true');
  return reply.code(outcome.status).send(outcome.body);
}
