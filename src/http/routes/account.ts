import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccountStore } from '../../accounts/account-store.js';
import type { Account } from '../../domain.js';
import { ApiError } from '../../errors.js';
import type { CreditLedger } from '../../ledger/credit-ledger.js';
import { callerOf } from '../auth.js';
import { queryReader } from '../query.js';

/** The public Account object. */
export function presentAccount(account: Account) {
  return {
    id: account.id,
    name: account.name,
    credits: { balance: account.balance, held: account.held, available: account.balance - account.held },
    limits: account.limits,
    created_at: account.createdAt.toISOString(),
  };
}

export function registerAccountRoutes(
  app: FastifyInstance,
  deps: { ledger: CreditLedger; accounts: AccountStore; authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void> },
): void {
  app.get('/api/v1/account', { preHandler: deps.authenticate }, async (request) => {
    // Credits are read fresh: the authenticated account may come from the key cache.
    const account = await deps.accounts.getAccount(callerOf(request).account.id);
    if (!account) throw new ApiError('unauthorized', 'The account of this API key no longer exists.');
    return presentAccount(account);
  });

  app.get('/api/v1/account/ledger', { preHandler: deps.authenticate }, async (request) => {
    const { account } = callerOf(request);
    const query = queryReader(request.query, ['limit', 'cursor']);
    const limit = query.limit();
    const cursor = query.cursor();
    query.done();
    return deps.ledger.list(account.id, limit, cursor);
  });
}
