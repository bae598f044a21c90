import { ApiError } from '../errors.js';
import type { Database, Queryable } from '../db/port.js';
import { randomBase62 } from '../ids.js';

export interface IdempotentRequest {
  /** Whose keys: an account id, or `admin`. */
  scope: string;
  key: string;
  fingerprint: string;
}

export interface StoredResponse {
  status: number;
  body: unknown;
  /** What a replay answers instead of `body`, when the first answer holds a secret shown once. */
  replayBody?: unknown;
}

export type IdempotencyOutcome = StoredResponse & { replayed: boolean };

export interface IdempotencyConfig {
  /** How long a completed key is kept; API.md: at least 24 h. */
  retentionSeconds: number;
  /** After this long, a key still in flight is presumed abandoned (its process died) and may be taken over. */
  inFlightTimeoutSeconds: number;
}

type Begin =
  | { kind: 'started' }
  | { kind: 'replay'; response: StoredResponse; fingerprint: string }
  | { kind: 'conflict' }
  | { kind: 'in_flight' };

const conflict = () => new ApiError('idempotency_conflict', 'This Idempotency-Key was already used with a different request.');
const inFlight = () =>
  new ApiError('idempotency_conflict', 'A request with this Idempotency-Key is still in progress; retry shortly.', {
    headers: { 'retry-after': '1' },
  });

/**
 * Idempotency keys as API.md defines them: the same key and request replays the first response;
 * another request with that key, or any while the first is in flight, is `idempotency_conflict`.
 * A request that fails binds nothing. The key is completed in the same transaction as the work,
 * so a response is stored if and only if its effects are.
 */
export function createIdempotencyStore(db: Database, config: IdempotencyConfig) {
  /** `compare: false` leaves the fingerprint check to the caller (a streamed body is fingerprinted once read). */
  async function begin(request: IdempotentRequest, owner: string, compare = true): Promise<Begin> {
    const { rows: inserted } = await db.query(
      `INSERT INTO idempotency_keys (scope, key, fingerprint, state, owner, locked_until, expires_at)
       VALUES ($1, $2, $3, 'in_flight', $6, now() + make_interval(secs => $4), now() + make_interval(secs => $5))
       ON CONFLICT (scope, key) DO UPDATE
         SET fingerprint = EXCLUDED.fingerprint, state = 'in_flight', response_status = NULL, response_body = NULL,
             owner = EXCLUDED.owner, locked_until = EXCLUDED.locked_until, created_at = now(), expires_at = EXCLUDED.expires_at
         WHERE idempotency_keys.expires_at < now()
            OR (idempotency_keys.state = 'in_flight' AND idempotency_keys.locked_until < now())
       RETURNING 1`,
      [request.scope, request.key, request.fingerprint, config.inFlightTimeoutSeconds, config.retentionSeconds, owner],
    );
    if (inserted.length > 0) return { kind: 'started' };
    const { rows } = await db.query<{ fingerprint: string; state: string; response_status: number; response_body: unknown }>(
      'SELECT fingerprint, state, response_status, response_body FROM idempotency_keys WHERE scope = $1 AND key = $2',
      [request.scope, request.key],
    );
    const row = rows[0];
    // The holder just abandoned it: ask the client to come back, as for one in flight.
    if (!row) return { kind: 'in_flight' };
    if (compare && row.fingerprint !== request.fingerprint) return { kind: 'conflict' };
    if (row.state === 'in_flight') return { kind: 'in_flight' };
    return { kind: 'replay', response: { status: row.response_status, body: row.response_body }, fingerprint: row.fingerprint };
  }

  /** Completes the key inside the work's transaction; if another request took it over meanwhile, the work rolls back. */
  async function complete(tx: Queryable, request: IdempotentRequest, owner: string, response: StoredResponse): Promise<void> {
    const { rowCount } = await tx.query(
      `UPDATE idempotency_keys SET state = 'completed', response_status = $3, response_body = $4::jsonb, locked_until = NULL, fingerprint = $6
        WHERE scope = $1 AND key = $2 AND owner = $5 AND state = 'in_flight'`,
      [request.scope, request.key, response.status, JSON.stringify(response.replayBody ?? response.body), owner, request.fingerprint],
    );
    if (rowCount !== 1) {
      throw new ApiError('idempotency_conflict', 'This request took too long and its Idempotency-Key was taken over; retry shortly.', {
        headers: { 'retry-after': '1' },
      });
    }
  }

  async function abandon(request: IdempotentRequest, owner: string): Promise<void> {
    await db.query(`DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND owner = $3 AND state = 'in_flight'`, [
      request.scope,
      request.key,
      owner,
    ]);
  }

  return {
    /**
     * Runs `work` in a transaction at most once per key. Without a key, simply runs it.
     * Throws `idempotency_conflict` for a reused key with another request, or while the first is in flight.
     */
    async run(
      request: IdempotentRequest | null,
      work: (tx: Queryable) => Promise<StoredResponse>,
      /** Runs once the request is known not to be a replay, before the work (e.g. a rate limit). */
      admit: () => Promise<void> = async () => {},
    ): Promise<IdempotencyOutcome> {
      if (!request) {
        await admit();
        const response = await db.transaction(work);
        return { status: response.status, body: response.body, replayed: false };
      }
      const owner = randomBase62(16);
      const started = await begin(request, owner);
      switch (started.kind) {
        case 'replay':
          return { ...started.response, replayed: true };
        case 'conflict':
          throw conflict();
        case 'in_flight':
          throw inFlight();
        case 'started':
          break;
      }
      try {
        await admit();
        const response = await db.transaction(async (tx) => {
          const result = await work(tx);
          await complete(tx, request, owner, result);
          return result;
        });
        return { status: response.status, body: response.body, replayed: false };
      } catch (error) {
        await abandon(request, owner).catch(() => {});
        throw error;
      }
    },

    /**
     * `run` for a request whose body is a stream, known only once read: `work` reads it and
     * returns the response with the body's fingerprint; a repeat of the key reads its own body
     * through `fingerprintOf`, and is replayed only if the two match (else `idempotency_conflict`).
     */
    async runStreamed(
      request: IdempotentRequest,
      work: () => Promise<{ response: StoredResponse; fingerprint: string }>,
      fingerprintOf: () => Promise<string>,
    ): Promise<IdempotencyOutcome> {
      const owner = randomBase62(16);
      const started = await begin(request, owner, false);
      if (started.kind === 'replay') {
        if ((await fingerprintOf()) !== started.fingerprint) throw conflict();
        return { ...started.response, replayed: true };
      }
      if (started.kind !== 'started') throw inFlight();
      try {
        const { response, fingerprint } = await work();
        await db.transaction((tx) => complete(tx, { ...request, fingerprint }, owner, response));
        return { status: response.status, body: response.body, replayed: false };
      } catch (error) {
        await abandon(request, owner).catch(() => {});
        throw error;
      }
    },

    /** Deletes keys past their retention. */
    async purgeExpired(): Promise<number> {
      const { rowCount } = await db.query('DELETE FROM idempotency_keys WHERE expires_at < now()');
      return rowCount;
    },
  };
}

export type IdempotencyStore = ReturnType<typeof createIdempotencyStore>;
