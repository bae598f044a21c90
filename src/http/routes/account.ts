import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccountStore } from '../../accounts/account-store.js';
import type { Account } from '../../domain.js';
import { ApiError } from '../../errors.js';
import type { CreditLedger } from '../../ledger/credit-ledger.js';
import { callerOf } from '../auth.js';
import { seenPosition, sendPosition } from '../position-header.js';
import type { LiveView } from '../../events/live-view.js';
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
  deps: {
    ledger: CreditLedger;
    accounts: AccountStore;
    /** Accounts as this process last heard of them: read from it when current through what the client has seen. */
    view: Pick<LiveView, 'account' | 'readAccount'>;
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  },
): void {
  app.get('/api/v1/account', { preHandler: deps.authenticate }, async (request, reply) => {
    // Credits are current, never from the key cache: from the view, else the database.
    const id = callerOf(request).account.id;
    const seen = seenPosition(request);
    const current = deps.view.account(id, seen) ?? (await deps.view.readAccount(id, () => deps.accounts.getAccountAt(id)));
    if (!current.value) throw new ApiError('unauthorized', 'The account of this API key no longer exists.');
    sendPosition(reply, Math.max(current.position, seen));
    return presentAccount(current.value);
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
