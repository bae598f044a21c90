import type { Database, Queryable } from '../db/port.js';
import { DEFAULT_LIMITS, type Account, type AccountLimits, type AtPosition } from '../domain.js';
import { newId } from '../ids.js';
import { generateApiKey, hashApiKey, keyPrefix } from './api-key.js';
import { markAccountChanged, postCreditChange, type AccountChanged } from '../ledger/credit-ledger.js';
import { LruCache } from '../lru-cache.js';
import { positionOf } from '../events/event-log.js';
import { ApiError } from '../errors.js';
import { decodeCursor, toPage, type Page } from '../pagination.js';

export interface AccountRow {
  id: string;
  name: string;
  balance: number;
  held: number;
  active_tasks: number;
  limits: Partial<AccountLimits>;
  created_at: Date;
}

export function toAccount(row: AccountRow): Account {
  return {
    id: row.id,
    name: row.name,
    balance: Number(row.balance),
    held: Number(row.held),
    activeTasks: row.active_tasks,
    limits: { ...DEFAULT_LIMITS, ...row.limits },
    createdAt: row.created_at,
  };
}

export interface ApiKeyCreated {
  id: string;
  key: string;
  prefix: string;
  name: string | null;
  created_at: Date;
}

/** A live key as its account lists it: never the key or its hash. */
export interface ApiKeyListed {
  id: string;
  prefix: string;
  name: string | null;
  created_at: string;
  last_used_at: string | null;
}

interface ApiKeyRow {
  seq: string | number;
  id: string;
  prefix: string;
  name: string | null;
  created_at: Date;
  last_used_at: Date | null;
}

function toListedKey(row: ApiKeyRow): ApiKeyListed {
  return {
    id: row.id,
    prefix: row.prefix,
    name: row.name,
    created_at: row.created_at.toISOString(),
    last_used_at: row.last_used_at ? row.last_used_at.toISOString() : null,
  };
}

export interface AuthenticatedKey {
  keyId: string;
  /** The account as of authentication: id, name and limits are current within the cache TTL; read credits fresh. */
  account: Account;
}

export interface AccountStoreOptions {
  /**
   * How long a successful key lookup is reused (default 5000 ms). Revoking a key or changing an
   * account's limits takes effect at once in the process that did it, and within this time in others.
   */
  authCacheTtlMs?: number;
  /**
   * How often, at most, this process records a key's use in `last_used_at` (default 60 000 ms):
   * a request does not write to the database, only the first one of a key in each interval.
   */
  lastUsedIntervalMs?: number;
  /** Told of each change to an account this process commits (new limits). */
  changed?: AccountChanged;
}

/** Accounts and their API keys. */
export function createAccountStore(db: Database, options: AccountStoreOptions = {}) {
  const authCache = new LruCache<string, AuthenticatedKey>(10_000, options.authCacheTtlMs ?? 5000);
  // Bumped on every revoke or limits change: a lookup that started before one is not cached.
  let generation = 0;
  // Keys whose use this process recorded within the interval: their requests write nothing.
  const lastUseRecorded = new LruCache<string, string>(10_000, options.lastUsedIntervalMs ?? 60_000);
  const recordUse = async (keyId: string): Promise<void> => {
    if (lastUseRecorded.get(keyId)) return;
    lastUseRecorded.set(keyId, keyId);
    // Other processes record the same key's use too: the condition makes theirs a no-op within the
    // minute (no row written). A failure to record a use never fails the request it came with.
    await db
      .query(
        `UPDATE api_keys SET last_used_at = now()
          WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - $2::double precision * interval '1 millisecond')`,
        [keyId, options.lastUsedIntervalMs ?? 60_000],
      )
      .catch(() => lastUseRecorded.deleteWhere((recorded) => recorded === keyId));
  };
  /**
   * Creates a key for the account; the secret is returned here and never again. With
   * `maxActive`, `invalid_state` when the account has that many live keys already.
   */
  async function createApiKey(accountId: string, name: string | null, tx?: Queryable, { maxActive }: { maxActive?: number } = {}): Promise<ApiKeyCreated> {
    if (maxActive !== undefined) {
      if (!tx) return db.transaction((own) => createApiKey(accountId, name, own, { maxActive }));
      // The account's row lock serializes its creates, so the cap holds under concurrency.
      await tx.query('SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE', [accountId]);
      const { rows: counted } = await tx.query<{ count: number }>(
        'SELECT count(*)::int AS count FROM api_keys WHERE account_id = $1 AND revoked_at IS NULL',
        [accountId],
      );
      if ((counted[0]?.count ?? 0) >= maxActive) {
        throw new ApiError('invalid_state', `An account may have at most ${maxActive} active API keys: revoke one first.`, {
          details: { limit: maxActive },
        });
      }
    }
    const key = generateApiKey();
    const id = newId('key');
    const { rows } = await (tx ?? db).query<{ created_at: Date }>(
      'INSERT INTO api_keys (id, account_id, name, prefix, key_hash) VALUES ($1, $2, $3, $4, $5) RETURNING created_at',
      [id, accountId, name, keyPrefix(key), hashApiKey(key)],
    );
    return { id, key, prefix: keyPrefix(key), name, created_at: (rows[0] as { created_at: Date }).created_at };
  }

  return {
    /**
     * Creates an account, granting `credits` (if any) as its first ledger entry, in one transaction
     * (`tx`, when the caller has one: an idempotent admin request).
     */
    async createAccount(name: string, credits: number, limits: Partial<AccountLimits> = {}, tx?: Queryable): Promise<Account> {
      const create = async (runner: Queryable) => {
        const id = newId('acct');
        await runner.query('INSERT INTO accounts (id, name, limits) VALUES ($1, $2, $3)', [id, name, JSON.stringify(limits)]);
        if (credits > 0) await postCreditChange(runner, { accountId: id, amount: credits, reason: 'initial credits' });
        return (await getAccount(runner, id)) as Account;
      };
      return tx ? create(tx) : db.transaction(create);
    },

    getAccount: (id: string) => getAccount(db, id),

    /** The account with the position of its log its snapshot saw; null if unknown. */
    async getAccountAt(id: string): Promise<AtPosition<Account | null>> {
      const { rows } = await db.query<AccountRow & { position: string }>(
        `SELECT a.*, ${positionOf('a.id')} FROM accounts a WHERE a.id = $1`,
        [id],
      );
      const row = rows[0];
      return row ? { value: toAccount(row), position: Number(row.position) } : { value: null, position: 0 };
    },

    /** Merges `limits` into the account's settings; returns the account, or null if unknown. */
    async updateLimits(id: string, limits: Partial<AccountLimits>): Promise<Account | null> {
      const { rows, position } = await db.transaction(async (tx) => {
        const { rows: updated } = await tx.query<AccountRow>(
          'UPDATE accounts SET limits = limits || $2::jsonb WHERE id = $1 RETURNING *',
          [id, JSON.stringify(limits)],
        );
        return { rows: updated, position: updated[0] ? await markAccountChanged(tx, id) : null };
      });
      if (position !== null) options.changed?.(id, position);
      generation++;
      authCache.deleteWhere((auth) => auth.account.id === id);
      return rows[0] ? toAccount(rows[0]) : null;
    },

    createApiKey,

    /** Records that a key was used now (at most once per interval), for a request it authenticated some other way than by its secret (a console session). */
    recordUse,

    /**
     * Revokes a key: `revoked` by this call, `already_revoked` (revoking twice is fine and
     * changes nothing), or null if there is no such key.
     */
    async revokeApiKey(keyId: string, { accountId }: { accountId?: string } = {}): Promise<'revoked' | 'already_revoked' | null> {
      // now() is the statement's transaction time: revoked_at equals it only if set just now.
      // With `accountId`, another account's key is no such key.
      const { rows } = await db.query<{ now_revoked: boolean }>(
        `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
          WHERE id = $1 AND ($2::text IS NULL OR account_id = $2) RETURNING revoked_at = now() AS now_revoked`,
        [keyId, accountId ?? null],
      );
      generation++;
      authCache.deleteWhere((auth) => auth.keyId === keyId);
      if (!rows[0]) return null;
      return rows[0].now_revoked ? 'revoked' : 'already_revoked';
    },

    /** The live key with this secret and its account, or null (unknown or revoked). */
    async authenticate(key: string): Promise<AuthenticatedKey | null> {
      const hash = hashApiKey(key);
      const cached = authCache.get(hash);
      if (cached) {
        await recordUse(cached.keyId);
        return cached;
      }
      const startedAt = generation;
      const { rows } = await db.query<AccountRow & { key_id: string }>(
        `SELECT k.id AS key_id, a.* FROM api_keys k JOIN accounts a ON a.id = k.account_id
          WHERE k.key_hash = $1 AND k.revoked_at IS NULL`,
        [hash],
      );
      const row = rows[0];
      if (!row) return null;
      const auth = { keyId: row.key_id, account: toAccount(row) };
      if (generation === startedAt) authCache.set(hash, auth);
      await recordUse(auth.keyId);
      return auth;
    },

    /** The account's live keys, newest first (revoked keys are not listed: they no longer work). */
    async listApiKeys(accountId: string, limit: number, cursor: string | undefined): Promise<Page<ApiKeyListed>> {
      const before = decodeCursor(cursor);
      const { rows } = await db.query<ApiKeyRow>(
        `SELECT seq, id, prefix, name, created_at, last_used_at FROM api_keys
          WHERE account_id = $1 AND revoked_at IS NULL AND ($2::bigint IS NULL OR seq < $2) ORDER BY seq DESC LIMIT $3`,
        [accountId, before, limit + 1],
      );
      return toPage(rows, limit, toListedKey);
    },

    async countAccounts(): Promise<number> {
      const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM accounts');
      return rows[0]?.n ?? 0;
    },
  };
}

export type AccountStore = ReturnType<typeof createAccountStore>;

export async function getAccount(runner: Queryable, id: string): Promise<Account | null> {
  const { rows } = await runner.query<AccountRow>('SELECT * FROM accounts WHERE id = $1', [id]);
  return rows[0] ? toAccount(rows[0]) : null;
}
