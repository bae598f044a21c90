import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccountStore } from '../../accounts/account-store.js';
import { ApiError } from '../../errors.js';
import type { IdempotencyStore } from '../../idempotency/idempotency-store.js';
import { createKeyOnce, readKeyCreate } from '../api-keys.js';
import { callerOf } from '../auth.js';
import { idempotencyOf, sendOutcome } from '../idempotency-header.js';
import { queryReader } from '../query.js';

/**
 * Live keys an account may hold. A leaked key can mint keys of its own: the cap bounds how many,
 * and revoking them is one call each.
 */
export const MAX_ACTIVE_KEYS_PER_ACCOUNT = 50;

export interface KeyRoutesDeps {
  accounts: AccountStore;
  idempotency: IdempotencyStore;
  authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
}

/** Self-service API keys: an account lists, creates and revokes its own keys. */
export function registerKeyRoutes(app: FastifyInstance, deps: KeyRoutesDeps): void {
  const preHandler = deps.authenticate;

  app.get('/api/v1/keys', { preHandler }, async (request) => {
    const { account } = callerOf(request);
    const query = queryReader(request.query, ['limit', 'cursor']);
    const limit = query.limit();
    const cursor = query.cursor();
    query.done();
    return deps.accounts.listApiKeys(account.id, limit, cursor);
  });

  app.post('/api/v1/keys', { preHandler }, async (request, reply) => {
    const { account, keyId } = callerOf(request);
    const { name } = readKeyCreate(request.body);
    const outcome = await createKeyOnce(deps, idempotencyOf(request, account.id), account.id, name, { maxActive: MAX_ACTIVE_KEYS_PER_ACCOUNT });
    if (!outcome.replayed) {
      // The new key's id and the key that asked for it, never a secret.
      request.log.info(
        { account_action: 'key_created', account_id: account.id, key_id: (outcome.body as { id: string }).id, by_key_id: keyId },
        'account action',
      );
    }
    return sendOutcome(reply, outcome);
  });

  app.delete<{ Params: { id: string } }>('/api/v1/keys/:id', { preHandler }, async (request) => {
    const { account, keyId } = callerOf(request);
    // The same revoke as the admin's: this process forgets the key at once, others within the
    // auth cache's TTL (see createAccountStore).
    const revoked = await deps.accounts.revokeApiKey(request.params.id, { accountId: account.id });
    if (!revoked) throw new ApiError('not_found', `Key ${request.params.id} not found.`);
    // Revoking again changes nothing: not an action.
    if (revoked === 'revoked') {
      request.log.info({ account_action: 'key_revoked', account_id: account.id, key_id: request.params.id, by_key_id: keyId }, 'account action');
    }
    return { id: request.params.id, revoked: true };
  });
}
