import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Database } from '../db/port.js';
import { newId, randomBase62 } from '../ids.js';
import { toAccount, type AccountRow, type AuthenticatedKey } from './account-store.js';

/**
 * How long a console session lives: 12 hours from sign-in, not sliding. A fixed lifetime bounds
 * what a stolen cookie is worth; a person working longer signs in again.
 */
export const SESSION_TTL_SECONDS = 12 * 60 * 60;

/** A signed-in console session: it acts as the key it was signed in with. */
export interface ConsoleSession extends AuthenticatedKey {
  sessionId: string;
  /** The session's CSRF token: sent back by the console in `X-CSRF-Token` on state-changing requests. */
  csrfToken: string;
  expiresAt: Date;
}

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * The CSRF token of a session, derived from its secret token (never stored): only a page the
 * server rendered for this session knows it, and a cross-site page cannot read it.
 */
export function csrfTokenOf(token: string): string {
  return createHmac('sha256', token).update('rivya-console-csrf').digest('base64url');
}

/** Compares a CSRF token sent by a client with the session's, in constant time. */
export function csrfMatches(sent: string | undefined, expected: string): boolean {
  if (!sent) return false;
  const a = createHash('sha256').update(sent).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Console sessions, kept in the database so that every API process sees them (see migration 0011). */
export function createSessionStore(db: Database, options: { ttlSeconds?: number } = {}) {
  const ttlSeconds = options.ttlSeconds ?? SESSION_TTL_SECONDS;
  return {
    ttlSeconds,
    /** Starts a session for a key; returns its secret token (the cookie's value, stored only as a hash). */
    async create(auth: AuthenticatedKey): Promise<{ token: string; expiresAt: Date }> {
      const token = `rvs_${randomBase62(43)}`;
      // Expired sessions are removed as new ones start: the table holds live sessions and few others.
      await db.query('DELETE FROM console_sessions WHERE expires_at < now()');
      const { rows } = await db.query<{ expires_at: Date }>(
        `INSERT INTO console_sessions (id, token_hash, key_id, account_id, expires_at)
         VALUES ($1, $2, $3, $4, now() + $5::double precision * interval '1 second') RETURNING expires_at`,
        [newId('sess'), hashToken(token), auth.keyId, auth.account.id, ttlSeconds],
      );
      return { token, expiresAt: (rows[0] as { expires_at: Date }).expires_at };
    },

    /** The live session with this token and its key's account, or null (unknown, expired, signed out, or its key revoked). */
    async find(token: string): Promise<ConsoleSession | null> {
      const { rows } = await db.query<AccountRow & { session_id: string; key_id: string; expires_at: Date }>(
        `SELECT s.id AS session_id, s.key_id, s.expires_at, a.*
           FROM console_sessions s
           JOIN api_keys k ON k.id = s.key_id AND k.revoked_at IS NULL
           JOIN accounts a ON a.id = s.account_id
          WHERE s.token_hash = $1 AND s.expires_at > now()`,
        [hashToken(token)],
      );
      const row = rows[0];
      if (!row) return null;
      const { session_id: sessionId, key_id: keyId, expires_at: expiresAt } = row;
      return { sessionId, keyId, account: toAccount(row), csrfToken: csrfTokenOf(token), expiresAt };
    },

    /** Ends the session with this token (signing out); true if there was one. */
    async end(token: string): Promise<boolean> {
      const { rowCount } = await db.query('DELETE FROM console_sessions WHERE token_hash = $1', [hashToken(token)]);
      return rowCount > 0;
    },
  };
}

export type SessionStore = ReturnType<typeof createSessionStore>;
