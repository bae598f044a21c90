import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Account } from '../../domain.js';
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
  deps: { ledger: CreditLedger; authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void> },
): void {
  app.get('/api/v1/account', { preHandler: deps.authenticate }, async (request) => presentAccount(callerOf(request).account));

  app.get('/api/v1/account/ledger', { preHandler: deps.authenticate }, async (request) => {
    const { account } = callerOf(request);
    const query = queryReader(request.query, ['limit', 'cursor']);
    const limit = query.limit();
    const cursor = query.cursor();
    query.done();
    return deps.ledger.list(account.id, limit, cursor);
  });
}
