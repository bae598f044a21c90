import type { AccountStore } from '../accounts/account-store.js';
import type { IdempotencyOutcome, IdempotencyStore, IdempotentRequest } from '../idempotency/idempotency-store.js';
import { bodyReader } from './body-reader.js';

/** A key create's body, `{name?}`, the same for the admin and the self-service route. */
export function readKeyCreate(body: unknown): { name: string | null } {
  const reader = bodyReader(body, ['name']);
  const name = reader.string('name') ?? null;
  reader.done();
  return { name };
}

/**
 * Creates a key for `accountId`, at most once per idempotency key. The secret is shown once: a
 * replay names the key it made, but never stores or repeats the secret (`key` is null in it).
 */
export async function createKeyOnce(
  deps: { accounts: AccountStore; idempotency: IdempotencyStore },
  idempotent: IdempotentRequest | null,
  accountId: string,
  name: string | null,
  options: { maxActive?: number } = {},
): Promise<IdempotencyOutcome> {
  return deps.idempotency.run(idempotent, async (tx) => {
    const created = await deps.accounts.createApiKey(accountId, name, tx, options);
    const body = { ...created, created_at: created.created_at.toISOString() };
    return { status: 201, body, replayBody: { ...body, key: null } };
  });
}
