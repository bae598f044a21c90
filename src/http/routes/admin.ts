import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AccountStore } from '../../accounts/account-store.js';
import { DEFAULT_LIMITS, type AccountLimits } from '../../domain.js';
import { ApiError } from '../../errors.js';
import type { IdempotencyStore } from '../../idempotency/idempotency-store.js';
import { postCreditChange, type AccountChanged } from '../../ledger/credit-ledger.js';
import { getAccount } from '../../accounts/account-store.js';
import { buildAdminOpenApiDocument } from '../admin-openapi.js';
import { createKeyOnce, readKeyCreate } from '../api-keys.js';
import { bearerTokenCheck } from '../bearer-token.js';
import { bodyReader } from '../body-reader.js';
import { idempotencyOf, sendOutcome } from '../idempotency-header.js';
import { presentAccount } from './account.js';

export interface AdminRoutesDeps {
  adminToken: string;
  /** The server URL the admin OpenAPI document names. */
  publicUrl: string;
  accounts: AccountStore;
  idempotency: IdempotencyStore;
  /** Told of each change to an account's credits made here, once committed. */
  accountChanged: AccountChanged;
}

const LIMIT_KEYS = Object.keys(DEFAULT_LIMITS) as (keyof AccountLimits)[];

function readLimits(reader: ReturnType<typeof bodyReader>, raw: Record<string, unknown> | undefined): Partial<AccountLimits> {
  const limits: Partial<AccountLimits> = {};
  if (!raw) return limits;
  const nested = bodyReader(raw, LIMIT_KEYS);
  for (const key of LIMIT_KEYS) {
    const value = nested.integer(key, { min: 1, max: 1_000_000 });
    if (value !== undefined) limits[key] = value;
  }
  reader.issues.push(...nested.issues.map((issue) => ({ ...issue, path: `limits.${issue.path}`.replace(/\.$/, '') })));
  return limits;
}

/** Operator routes under `/admin/v1`, and their OpenAPI document, registered only when `RIVYA_ADMIN_TOKEN` is set. */
export function registerAdminRoutes(app: FastifyInstance, deps: AdminRoutesDeps): void {
  const isAdmin = bearerTokenCheck(deps.adminToken);
  const authorize = async (request: FastifyRequest) => {
    if (!isAdmin(request)) {
      throw new ApiError('unauthorized', 'Send the admin token as "Authorization: Bearer <RIVYA_ADMIN_TOKEN>".');
    }
  };
  const accountOr404 = async (id: string) => {
    const account = await deps.accounts.getAccount(id);
    if (!account) throw new ApiError('not_found', `Account ${id} not found.`);
    return account;
  };

  const document = buildAdminOpenApiDocument(deps.publicUrl);
  app.get('/admin/v1/openapi.json', { preHandler: authorize }, async () => document);

  app.post('/admin/v1/accounts', { preHandler: authorize }, async (request, reply) => {
    const body = bodyReader(request.body, ['name', 'credits', 'limits']);
    const name = body.string('name', { required: true });
    const credits = body.integer('credits', { min: 0 }) ?? 0;
    const limits = readLimits(body, body.object('limits'));
    body.done();
    const outcome = await deps.idempotency.run(idempotencyOf(request, 'admin'), async (tx) => ({
      status: 201,
      body: presentAccount(await deps.accounts.createAccount(name as string, credits, limits, tx)),
    }));
    if (!outcome.replayed) {
      request.log.info({ admin_action: 'account_created', account_id: (outcome.body as { id: string }).id, credits, limits }, 'admin action');
    }
    return sendOutcome(reply, outcome);
  });

  app.get<{ Params: { id: string } }>('/admin/v1/accounts/:id', { preHandler: authorize }, async (request) =>
    presentAccount(await accountOr404(request.params.id)),
  );

  app.patch<{ Params: { id: string } }>('/admin/v1/accounts/:id', { preHandler: authorize }, async (request) => {
    const body = bodyReader(request.body, ['limits']);
    const limits = readLimits(body, body.object('limits'));
    body.done();
    const account = await deps.accounts.updateLimits(request.params.id, limits);
    if (!account) throw new ApiError('not_found', `Account ${request.params.id} not found.`);
    request.log.info({ admin_action: 'limits_updated', account_id: account.id, limits }, 'admin action');
    return presentAccount(account);
  });

  app.post<{ Params: { id: string } }>('/admin/v1/accounts/:id/keys', { preHandler: authorize }, async (request, reply) => {
    const { name } = readKeyCreate(request.body);
    await accountOr404(request.params.id);
    const outcome = await createKeyOnce(deps, idempotencyOf(request, 'admin'), request.params.id, name);
    if (!outcome.replayed) {
      // The key's id, never the key.
      request.log.info({ admin_action: 'key_created', account_id: request.params.id, key_id: (outcome.body as { id: string }).id }, 'admin action');
    }
    return sendOutcome(reply, outcome);
  });

  app.delete<{ Params: { id: string } }>('/admin/v1/keys/:id', { preHandler: authorize }, async (request) => {
    const revoked = await deps.accounts.revokeApiKey(request.params.id);
    if (!revoked) throw new ApiError('not_found', `Key ${request.params.id} not found.`);
    // Revoking again changes nothing: not an action.
    if (revoked === 'revoked') request.log.info({ admin_action: 'key_revoked', key_id: request.params.id }, 'admin action');
    return { id: request.params.id, revoked: true };
  });

  app.post<{ Params: { id: string } }>('/admin/v1/accounts/:id/credits', { preHandler: authorize }, async (request, reply) => {
    const body = bodyReader(request.body, ['amount', 'reason']);
    const amount = body.integer('amount', { required: true, min: -1e12, max: 1e12 });
    const reason = body.string('reason', { required: true, max: 500 });
    if (amount === 0) body.issues.push({ path: 'amount', message: 'Must not be 0.' });
    body.done();
    let position: number | null = null;
    const outcome = await deps.idempotency.run(idempotencyOf(request, 'admin'), async (tx) => {
      const posted = await postCreditChange(tx, { accountId: request.params.id, amount: amount as number, reason: reason as string });
      position = posted.position;
      const account = await getAccount(tx, request.params.id);
      return { status: 201, body: { entry: posted.entry, account: account ? presentAccount(account) : null } };
    });
    if (position !== null) deps.accountChanged(request.params.id, position);
    if (!outcome.replayed) {
      const { entry } = outcome.body as { entry: { id: string; amount: number; balance_after: number } };
      request.log.info({
        admin_action: entry.amount > 0 ? 'credits_granted' : 'credits_adjusted', account_id: request.params.id,
        amount: entry.amount, ledger_entry_id: entry.id, balance_after: entry.balance_after, reason,
      }, 'admin action');
    }
    return sendOutcome(reply, outcome);
  });
}
