import type { Database, Queryable } from '../db/port.js';
import { ApiError } from '../errors.js';
import { newId } from '../ids.js';
import { decodeCursor, toPage, type Page } from '../pagination.js';
import { olderSecretsAfterRotation, parseOlderSecrets, ROTATION_OVERLAP_MS, type SigningSecrets } from './signing-secret.js';

/** An account may have this many endpoints. */
export const MAX_ENDPOINTS_PER_ACCOUNT = 16;

/** A webhook endpoint as stored. */
export interface WebhookEndpoint {
  id: string;
  seq: number;
  accountId: string;
  url: string;
  description: string | null;
  /** Event types it receives; `['*']` for all. */
  events: string[];
  secrets: SigningSecrets;
  disabledAt: Date | null;
  disabledReason: string | null;
  failingSince: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface EndpointRow {
  id: string;
  seq: number;
  account_id: string;
  url: string;
  description: string | null;
  events: string[];
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: Date | null;
  older_secrets: unknown;
  disabled_at: Date | null;
  disabled_reason: string | null;
  failing_since: Date | null;
  created_at: Date;
  updated_at: Date;
}

const date = (value: Date | string | null): Date | null => (value === null ? null : new Date(value));

export function toEndpoint(row: EndpointRow): WebhookEndpoint {
  return {
    id: row.id,
    seq: Number(row.seq),
    accountId: row.account_id,
    url: row.url,
    description: row.description,
    events: row.events,
    secrets: {
      secret: row.secret, previousSecret: row.previous_secret, previousExpiresAt: date(row.previous_secret_expires_at),
      olderSecrets: parseOlderSecrets(row.older_secrets),
    },
    disabledAt: date(row.disabled_at),
    disabledReason: row.disabled_reason,
    failingSince: date(row.failing_since),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

export interface EndpointChanges {
  url?: string;
  description?: string | null;
  events?: string[];
  /** true disables it (by the client), false enables it again. */
  disabled?: boolean;
}

/**
 * Webhook endpoints and the account's default signing secret. `now` is the clock of secret
 * rotations (injected in tests to see an overlap end).
 */
export function createEndpointStore(db: Database, now: () => Date) {
  return {
    /** Creates an endpoint inside `tx`; `invalid_state` when the account has its maximum already. */
    async create(tx: Queryable, endpoint: { accountId: string; url: string; description: string | null; events: string[]; secret: string }): Promise<WebhookEndpoint> {
      // The account's row lock serializes its creates, so the limit holds under concurrency.
      await tx.query('SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE', [endpoint.accountId]);
      const { rows: counted } = await tx.query<{ count: number }>('SELECT count(*)::int AS count FROM webhook_endpoints WHERE account_id = $1', [endpoint.accountId]);
      if ((counted[0]?.count ?? 0) >= MAX_ENDPOINTS_PER_ACCOUNT) {
        throw new ApiError('invalid_state', `An account may have at most ${MAX_ENDPOINTS_PER_ACCOUNT} webhook endpoints: delete one first.`, {
          details: { limit: MAX_ENDPOINTS_PER_ACCOUNT },
        });
      }
      const { rows } = await tx.query<EndpointRow>(
        `INSERT INTO webhook_endpoints (id, account_id, url, description, events, secret) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
        [newId('we'), endpoint.accountId, endpoint.url, endpoint.description, endpoint.events, endpoint.secret],
      );
      return toEndpoint(rows[0] as EndpointRow);
    },

    /** The account's endpoints, newest first. */
    async list(accountId: string, limit: number, cursor: string | undefined): Promise<Page<WebhookEndpoint>> {
      const before = decodeCursor(cursor);
      const { rows } = await db.query<EndpointRow>(
        'SELECT * FROM webhook_endpoints WHERE account_id = $1 AND ($2::bigint IS NULL OR seq < $2) ORDER BY seq DESC LIMIT $3',
        [accountId, before, limit + 1],
      );
      return toPage(rows, limit, toEndpoint);
    },

    /** One endpoint of the account; null when unknown or another account's. */
    async get(accountId: string, id: string): Promise<WebhookEndpoint | null> {
      const { rows } = await db.query<EndpointRow>('SELECT * FROM webhook_endpoints WHERE account_id = $1 AND id = $2', [accountId, id]);
      return rows[0] ? toEndpoint(rows[0]) : null;
    },

    /** The same inside `tx`, kept from being deleted until `tx` ends (a delivery is about to name it). */
    async getForDelivery(tx: Queryable, accountId: string, id: string): Promise<WebhookEndpoint | null> {
      const { rows } = await tx.query<EndpointRow>('SELECT * FROM webhook_endpoints WHERE account_id = $1 AND id = $2 FOR KEY SHARE', [accountId, id]);
      return rows[0] ? toEndpoint(rows[0]) : null;
    },

    /**
     * Applies `changes`. Disabling stops the endpoint's pending deliveries (those not being sent
     * right now; an attempt under way finishes and is not followed by another). Enabling clears
     * the reason and the failing streak. Null when unknown or another account's.
     */
    async update(accountId: string, id: string, changes: EndpointChanges): Promise<WebhookEndpoint | null> {
      return db.transaction(async (tx) => {
        const { rows } = await tx.query<EndpointRow>(
          `UPDATE webhook_endpoints SET
             url = coalesce($3, url),
             description = CASE WHEN $4::boolean THEN $5 ELSE description END,
             events = coalesce($6, events),
             disabled_at = CASE WHEN $7::boolean IS NULL THEN disabled_at WHEN $7 THEN coalesce(disabled_at, now()) ELSE NULL END,
             disabled_reason = CASE WHEN $7::boolean IS NULL THEN disabled_reason WHEN $7 THEN CASE WHEN disabled_at IS NULL THEN 'Disabled by the client.' ELSE disabled_reason END ELSE NULL END,
             failing_since = CASE WHEN $7::boolean = false THEN NULL ELSE failing_since END,
             updated_at = now()
           WHERE account_id = $1 AND id = $2 RETURNING *`,
          [accountId, id, changes.url ?? null, changes.description !== undefined, changes.description ?? null, changes.events ?? null, changes.disabled ?? null],
        );
        const row = rows[0];
        if (!row) return null;
        if (row.disabled_at !== null) await cancelPending(tx, row.id);
        return toEndpoint(row);
      });
    },

    /** Deletes the endpoint and its deliveries; false when unknown or another account's. */
    async delete(accountId: string, id: string): Promise<boolean> {
      const { rowCount } = await db.query('DELETE FROM webhook_endpoints WHERE account_id = $1 AND id = $2', [accountId, id]);
      return rowCount === 1;
    },

    /**
     * Gives the endpoint `secret`; the one it had signs beside it for 24 h, and so do those rotated
     * out earlier whose 24 h have not ended. Null when unknown.
     */
    async rotateSecret(tx: Queryable, accountId: string, id: string, secret: string): Promise<WebhookEndpoint | null> {
      const { rows: current } = await tx.query<EndpointRow>('SELECT * FROM webhook_endpoints WHERE account_id = $1 AND id = $2 FOR NO KEY UPDATE', [accountId, id]);
      if (!current[0]) return null;
      const at = now();
      const { rows } = await tx.query<EndpointRow>(
        `UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_expires_at = $4, secret = $3, older_secrets = $5::jsonb, updated_at = now()
          WHERE account_id = $1 AND id = $2 RETURNING *`,
        [accountId, id, secret, new Date(at.getTime() + ROTATION_OVERLAP_MS), JSON.stringify(olderSecretsAfterRotation(toEndpoint(current[0]).secrets, at))],
      );
      return rows[0] ? toEndpoint(rows[0]) : null;
    },

    /** The account's default signing secret, made with `fresh` if it has none yet. */
    async accountSecrets(accountId: string, fresh: string, runner: Queryable = db): Promise<SigningSecrets> {
      // Two statements, not one: a secret made by a concurrent first request commits after this
      // statement's snapshot was taken, so a SELECT in the INSERT's statement would not see it.
      await runner.query('INSERT INTO webhook_secrets (account_id, secret) VALUES ($1, $2) ON CONFLICT (account_id) DO NOTHING', [accountId, fresh]);
      return (await storedAccountSecrets(runner, accountId, false)) as SigningSecrets;
    },

    /**
     * Gives the account the default signing secret `secret`; its previous one signs beside it for
     * 24 h, and so do those rotated out earlier whose 24 h have not ended.
     */
    async rotateAccountSecret(tx: Queryable, accountId: string, secret: string): Promise<void> {
      const at = now();
      const older = olderSecretsAfterRotation(await storedAccountSecrets(tx, accountId, true), at);
      await tx.query(
        `INSERT INTO webhook_secrets (account_id, secret) VALUES ($1, $2)
         ON CONFLICT (account_id) DO UPDATE
           SET previous_secret = webhook_secrets.secret, previous_secret_expires_at = $3, secret = EXCLUDED.secret,
               older_secrets = $4::jsonb, updated_at = now()`,
        [accountId, secret, new Date(at.getTime() + ROTATION_OVERLAP_MS), JSON.stringify(older)],
      );
    },
  };
}

/**
 * The account's default signing secrets as stored, null when it has none; with `forUpdate` the row
 * is locked as the UPDATE that follows would lock it (not against the KEY SHARE of deliveries).
 */
async function storedAccountSecrets(runner: Queryable, accountId: string, forUpdate: boolean): Promise<SigningSecrets | null> {
  const { rows } = await runner.query<{ secret: string; previous_secret: string | null; previous_secret_expires_at: Date | null; older_secrets: unknown }>(
    `SELECT secret, previous_secret, previous_secret_expires_at, older_secrets FROM webhook_secrets WHERE account_id = $1${forUpdate ? ' FOR NO KEY UPDATE' : ''}`,
    [accountId],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    secret: row.secret, previousSecret: row.previous_secret, previousExpiresAt: date(row.previous_secret_expires_at),
    olderSecrets: parseOlderSecrets(row.older_secrets),
  };
}

/** Stops an endpoint's pending deliveries that no worker is sending now. */
export async function cancelPending(tx: Queryable, endpointId: string): Promise<void> {
  await tx.query(
    `UPDATE webhook_deliveries SET status = 'canceled', next_attempt_at = NULL, updated_at = now()
      WHERE endpoint_id = $1 AND status = 'pending' AND (lease_until IS NULL OR lease_until < now())`,
    [endpointId],
  );
}

export type EndpointStore = ReturnType<typeof createEndpointStore>;
