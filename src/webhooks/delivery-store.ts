import type { Database, Queryable } from '../db/port.js';
import { newId } from '../ids.js';
import { decodeCursor, toPage, type Page } from '../pagination.js';
import { parseOlderSecrets, type SigningSecrets } from './signing-secret.js';

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed' | 'canceled';

/** An event bound for one target, as the worker claims it. */
export interface ClaimedDelivery {
  id: string;
  accountId: string;
  /** The endpoint, or null for a task's own webhook_url. */
  endpointId: string | null;
  url: string;
  eventId: string;
  eventType: string;
  /** The event's public JSON, for an event kept outside the log (`webhook.test`). */
  event: Record<string, unknown> | null;
  attempt: number;
  /** The endpoint's signing secrets (null for a task's own webhook_url: the account's sign it). */
  endpointSecrets: SigningSecrets | null;
  endpointDisabled: boolean;
}

/** One attempt as recorded. */
export interface AttemptRecord {
  attempt: number;
  startedAt: Date;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  responseBody: string | null;
  nextRetryAt: Date | null;
}

export interface DeliveryRecord {
  id: string;
  endpointId: string | null;
  eventId: string;
  eventType: string;
  status: DeliveryStatus;
  nextAttemptAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  attempts: AttemptRecord[];
}

/** A delivery to make: to an endpoint, or to a task's own URL. */
export type NewDelivery = { endpointId: string; url: null } | { endpointId: null; url: string };

interface ClaimRow {
  id: string;
  account_id: string;
  endpoint_id: string | null;
  url: string | null;
  event_id: string;
  event_type: string;
  event: Record<string, unknown> | null;
  attempts: number;
  endpoint_url: string | null;
  secret: string | null;
  previous_secret: string | null;
  previous_secret_expires_at: Date | null;
  older_secrets: unknown;
  disabled_at: Date | null;
}

interface DeliveryRow {
  id: string;
  seq: number;
  endpoint_id: string | null;
  event_id: string;
  event_type: string;
  status: DeliveryStatus;
  next_attempt_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

interface AttemptRow {
  delivery_id: string;
  attempt: number;
  started_at: Date;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
  response_body: string | null;
  next_retry_at: Date | null;
}

const date = (value: Date | string | null): Date | null => (value === null ? null : new Date(value));

/** A delivery is attempted at most this often: its scheduled attempts and then manual retries. */
export const MAX_ATTEMPTS_PER_DELIVERY = 25;

function toAttempt(row: AttemptRow): AttemptRecord {
  return {
    attempt: row.attempt, startedAt: new Date(row.started_at), statusCode: row.status_code, latencyMs: row.latency_ms,
    error: row.error, responseBody: row.response_body, nextRetryAt: date(row.next_retry_at),
  };
}

/** What one attempt came to, and what follows it. */
export interface AttemptResult {
  startedAt: Date;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  responseBody: string | null;
  /** `succeeded`; `retry` after `retryInMs`; or `failed` for good (schedule spent, 410, endpoint disabled). */
  outcome: { kind: 'succeeded' } | { kind: 'retry'; retryInMs: number } | { kind: 'failed' };
}

/**
 * Deliveries and their attempts. A delivery's attempts are made one at a time: a worker claims
 * attempt n (`claim`) under a lease, sends, and records it (`record`) in the transaction that
 * schedules attempt n + 1. A claim whose lease lapsed (its worker died) is made again.
 */
export function createDeliveryStore(db: Database) {
  return {
    /** Records one delivery per target of `event` inside `tx`; returns their ids. */
    async insert(
      tx: Queryable,
      accountId: string,
      event: { id: string; type: string; body: Record<string, unknown> | null },
      targets: readonly NewDelivery[],
    ): Promise<string[]> {
      if (targets.length === 0) return [];
      const ids = targets.map(() => newId('dlv'));
      await tx.query(
        `INSERT INTO webhook_deliveries (id, account_id, endpoint_id, url, event_id, event_type, event, next_attempt_at)
         SELECT t.id, $1, t.endpoint_id, t.url, $2, $3, $4::jsonb, now()
           FROM unnest($5::text[], $6::text[], $7::text[]) AS t(id, endpoint_id, url)`,
        [accountId, event.id, event.type, event.body === null ? null : JSON.stringify(event.body), ids,
          targets.map((target) => target.endpointId), targets.map((target) => target.url)],
      );
      return ids;
    },

    /**
     * Claims attempt `attempt` of a pending delivery for `leaseSeconds`: the attempt after the last
     * one recorded, or one whose claim lapsed. Null when the delivery is gone, ended, or the
     * attempt is made or being made by another worker (a duplicate job).
     */
    async claim(id: string, attempt: number, leaseSeconds: number): Promise<ClaimedDelivery | null> {
      const { rows } = await db.query<ClaimRow>(
        `WITH claimed AS (
           UPDATE webhook_deliveries d SET attempts = $2, lease_until = now() + make_interval(secs => $3), updated_at = now()
            WHERE d.id = $1 AND d.status = 'pending'
              AND ((d.attempts = $2 - 1 AND d.lease_until IS NULL) OR (d.attempts = $2 AND d.lease_until < now()))
           RETURNING d.*)
         SELECT c.id, c.account_id, c.endpoint_id, c.url, c.event_id, c.event_type, c.event, c.attempts,
                e.url AS endpoint_url, e.secret, e.previous_secret, e.previous_secret_expires_at, e.older_secrets, e.disabled_at
           FROM claimed c LEFT JOIN webhook_endpoints e ON e.id = c.endpoint_id`,
        [id, attempt, leaseSeconds],
      );
      const row = rows[0];
      if (!row) return null;
      return {
        id: row.id,
        accountId: row.account_id,
        endpointId: row.endpoint_id,
        url: (row.endpoint_url ?? row.url) as string,
        eventId: row.event_id,
        eventType: row.event_type,
        event: row.event,
        attempt: row.attempts,
        endpointSecrets: row.secret === null ? null : {
          secret: row.secret, previousSecret: row.previous_secret, previousExpiresAt: date(row.previous_secret_expires_at),
          olderSecrets: parseOlderSecrets(row.older_secrets),
        },
        endpointDisabled: row.disabled_at !== null,
      };
    },

    /** Ends a claimed delivery without an attempt (its endpoint was disabled meanwhile). */
    async cancelClaimed(id: string, attempt: number): Promise<void> {
      await db.query(
        `UPDATE webhook_deliveries SET status = 'canceled', attempts = $2 - 1, lease_until = NULL, next_attempt_at = NULL, updated_at = now()
          WHERE id = $1 AND attempts = $2 AND status = 'pending'`,
        [id, attempt],
      );
    },

    /**
     * Records attempt `attempt` and its outcome inside `tx`, releasing the claim. False when the
     * claim was lost meanwhile (its lease lapsed and another worker made the attempt again).
     */
    async record(tx: Queryable, id: string, attempt: number, result: AttemptResult): Promise<boolean> {
      const nextRetryAt = result.outcome.kind === 'retry' ? new Date(Date.now() + result.outcome.retryInMs) : null;
      const status: DeliveryStatus = result.outcome.kind === 'retry' ? 'pending' : result.outcome.kind;
      const { rowCount } = await tx.query(
        `UPDATE webhook_deliveries SET status = $3, lease_until = NULL, next_attempt_at = $4, updated_at = now()
          WHERE id = $1 AND attempts = $2 AND status = 'pending' AND lease_until IS NOT NULL`,
        [id, attempt, status, nextRetryAt],
      );
      if (rowCount !== 1) return false;
      await tx.query(
        `INSERT INTO webhook_attempts (delivery_id, attempt, started_at, status_code, latency_ms, error, response_body, next_retry_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (delivery_id, attempt) DO NOTHING`,
        [id, attempt, result.startedAt, result.statusCode, result.latencyMs, result.error, result.responseBody, nextRetryAt],
      );
      return true;
    },

    /** An endpoint's deliveries, newest first, each with its attempts. */
    async list(accountId: string, endpointId: string, limit: number, cursor: string | undefined): Promise<Page<DeliveryRecord>> {
      const before = decodeCursor(cursor);
      const { rows } = await db.query<DeliveryRow>(
        `SELECT id, seq, endpoint_id, event_id, event_type, status, next_attempt_at, created_at, updated_at FROM webhook_deliveries
          WHERE account_id = $1 AND endpoint_id = $2 AND ($3::bigint IS NULL OR seq < $3) ORDER BY seq DESC LIMIT $4`,
        [accountId, endpointId, before, limit + 1],
      );
      const { rows: attempts } = await db.query<AttemptRow>(
        'SELECT * FROM webhook_attempts WHERE delivery_id = ANY ($1::text[]) ORDER BY delivery_id, attempt',
        [rows.slice(0, limit).map((row) => row.id)],
      );
      return toPage(rows, limit, (row) => ({
        id: row.id,
        endpointId: row.endpoint_id,
        eventId: row.event_id,
        eventType: row.event_type,
        status: row.status,
        nextAttemptAt: row.status === 'pending' ? date(row.next_attempt_at) : null,
        createdAt: new Date(row.created_at),
        updatedAt: new Date(row.updated_at),
        attempts: attempts.filter((attempt) => attempt.delivery_id === row.id).map(toAttempt),
      }));
    },

    /** One delivery of the endpoint, with its attempts; null when unknown or another account's. */
    async get(accountId: string, endpointId: string, id: string, runner: Queryable = db): Promise<DeliveryRecord | null> {
      const { rows } = await runner.query<DeliveryRow>(
        `SELECT id, seq, endpoint_id, event_id, event_type, status, next_attempt_at, created_at, updated_at FROM webhook_deliveries
          WHERE account_id = $1 AND endpoint_id = $2 AND id = $3`,
        [accountId, endpointId, id],
      );
      const row = rows[0];
      if (!row) return null;
      const { rows: attempts } = await runner.query<AttemptRow>('SELECT * FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt', [id]);
      return {
        id: row.id, endpointId: row.endpoint_id, eventId: row.event_id, eventType: row.event_type, status: row.status,
        nextAttemptAt: row.status === 'pending' ? date(row.next_attempt_at) : null,
        createdAt: new Date(row.created_at), updatedAt: new Date(row.updated_at), attempts: attempts.map(toAttempt),
      };
    },

    /**
     * Makes a delivery that is not succeeded and not being sent due now, inside `tx`; returns the
     * attempt its job must make, or a reason it cannot: `not_found`, `succeeded`, `in_flight`, or
     * `too_many` once it had `MAX_ATTEMPTS_PER_DELIVERY` attempts (its list of attempts stays bounded).
     */
    async retryNow(
      tx: Queryable, accountId: string, endpointId: string, id: string,
    ): Promise<{ attempt: number } | { refused: 'not_found' | 'succeeded' | 'in_flight' | 'too_many' }> {
      const { rows } = await tx.query<{ status: DeliveryStatus; attempts: number; in_flight: boolean }>(
        `SELECT status, attempts, (lease_until IS NOT NULL AND lease_until >= now()) AS in_flight FROM webhook_deliveries
          WHERE account_id = $1 AND endpoint_id = $2 AND id = $3 FOR UPDATE`,
        [accountId, endpointId, id],
      );
      const row = rows[0];
      if (!row) return { refused: 'not_found' };
      if (row.status === 'succeeded') return { refused: 'succeeded' };
      if (row.in_flight) return { refused: 'in_flight' };
      if (row.attempts >= MAX_ATTEMPTS_PER_DELIVERY) return { refused: 'too_many' };
      // A lapsed claim is given up: the attempt it was making is made again now.
      const { rows: updated } = await tx.query<{ attempts: number }>(
        `UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), updated_at = now(),
                attempts = CASE WHEN lease_until IS NOT NULL THEN attempts - 1 ELSE attempts END, lease_until = NULL
          WHERE id = $1 RETURNING attempts`,
        [id],
      );
      return { attempt: (updated[0]?.attempts ?? row.attempts) + 1 };
    },

    /**
     * Pending deliveries that should be moving and may have lost their job: due for more than
     * `graceSeconds` and not claimed, or claimed under a lapsed lease. Each with the job it needs.
     */
    async overdue(graceSeconds: number, limit = 200): Promise<{ deliveryId: string; attempt: number }[]> {
      const { rows } = await db.query<{ id: string; attempts: number; lapsed: boolean }>(
        `SELECT id, attempts, lease_until IS NOT NULL AS lapsed FROM webhook_deliveries
          WHERE status = 'pending'
            AND ((lease_until IS NULL AND next_attempt_at < now() - make_interval(secs => $1)) OR lease_until < now())
          ORDER BY next_attempt_at LIMIT $2`,
        [graceSeconds, limit],
      );
      return rows.map((row) => ({ deliveryId: row.id, attempt: row.lapsed ? row.attempts : row.attempts + 1 }));
    },

    /** Lets every claim lapse now (the embedded store at start: the process that held them is gone). */
    async lapseAllClaims(): Promise<number> {
      const { rowCount } = await db.query(
        `UPDATE webhook_deliveries SET lease_until = now() - interval '1 second' WHERE status = 'pending' AND lease_until IS NOT NULL`,
      );
      return rowCount;
    },

    /** Deletes ended deliveries (and their attempts) unchanged for `retentionSeconds`; returns how many. */
    async purgeEnded(retentionSeconds: number, limit = 10_000): Promise<number> {
      const { rowCount } = await db.query(
        `DELETE FROM webhook_deliveries WHERE id IN (
           SELECT id FROM webhook_deliveries WHERE status <> 'pending' AND updated_at < now() - make_interval(secs => $1) LIMIT $2)`,
        [retentionSeconds, limit],
      );
      return rowCount;
    },
  };
}

export type DeliveryStore = ReturnType<typeof createDeliveryStore>;
