import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AccountStore, AuthenticatedKey } from '../accounts/account-store.js';
import { ApiError } from '../errors.js';
import type { RateLimitDecision, RateLimiter } from '../rate-limit/port.js';
import { csrfMatches, type SessionStore } from '../accounts/session-store.js';
import { sessionTokenOf, sameSiteRefusal } from './session-cookie.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's key and account, set by `authenticate` on `/api/v1` routes. */
    auth: AuthenticatedKey | null;
  }
}

export interface AuthDeps {
  accounts: AccountStore;
  rateLimiter: RateLimiter;
  /** Failed authentications allowed per client address per minute. */
  authFailuresPerMinute: number;
  /** Console sessions: a request without `Authorization` may authenticate by the session cookie. */
  sessions?: SessionStore;
  /** The service's public URL: a request's `Origin` must be it (or the request's own origin). */
  publicUrl?: string;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** How to ask again whether a request's credential still works: its key unrevoked, its console session not ended. */
const recheckers = new WeakMap<FastifyRequest, () => Promise<boolean>>();

/**
 * Whether the credential that authenticated `request` still works now (a long answer, such as an
 * event stream, asks this as it goes: a sign-out or a revoke ends it). True for a request no
 * credential authenticated.
 */
export async function stillAuthenticated(request: FastifyRequest): Promise<boolean> {
  const recheck = recheckers.get(request);
  return recheck ? recheck() : true;
}

const WINDOW_SECONDS = 60;

export function setRateLimitHeaders(reply: FastifyReply, decision: RateLimitDecision): void {
  void reply.header('ratelimit-limit', String(decision.limit));
  void reply.header('ratelimit-remaining', String(decision.remaining));
  void reply.header('ratelimit-reset', String(decision.resetSeconds));
}

/** Takes one of the key's other-requests budget (every authenticated request but task creates); the caller decides whether to refuse. */
export async function consumeRequestBudget(rateLimiter: RateLimiter, reply: FastifyReply, auth: AuthenticatedKey): Promise<RateLimitDecision> {
  const decision = await rateLimiter.consume(`requests:${auth.keyId}`, auth.account.limits.requests_per_minute, WINDOW_SECONDS);
  setRateLimitHeaders(reply, decision);
  return decision;
}

/** Takes one of the key's task creates budget. */
export async function consumeCreateBudget(rateLimiter: RateLimiter, reply: FastifyReply, auth: AuthenticatedKey): Promise<RateLimitDecision> {
  const decision = await rateLimiter.consume(`creates:${auth.keyId}`, auth.account.limits.creates_per_minute, WINDOW_SECONDS);
  setRateLimitHeaders(reply, decision);
  return decision;
}

export function rateLimited(scope: string, decision: RateLimitDecision): ApiError {
  return new ApiError('rate_limited', `Rate limit exceeded (${scope}: ${decision.limit} per ${WINDOW_SECONDS} s); retry after ${decision.resetSeconds} s.`, {
    details: { scope, limit: decision.limit, window_s: WINDOW_SECONDS },
    headers: { 'retry-after': String(decision.resetSeconds) },
  });
}

function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1] ?? null;
}

/**
 * Authenticates an `/api/v1` request by its API key and applies the per-key request limit.
 * Failed attempts are counted per client address; past the limit, its failed attempts get 429s.
 */
export function createAuthenticator(
  deps: AuthDeps,
  /** False for task creates: they have a limit of their own, and do not use the key's request budget. */
  { countRequest = true }: { countRequest?: boolean } = {},
) {
  return async function authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const token = bearerToken(request);
    // `Authorization` wins over a cookie: a client that sends a key is authenticated by it.
    const sessionToken = token || !deps.sessions ? null : sessionTokenOf(request);
    const session = sessionToken && deps.sessions ? await deps.sessions.find(sessionToken) : null;
    const auth = token ? await deps.accounts.authenticate(token) : session;
    // A session acts as its key: the key's "last used" says so, as for a request sending the key.
    if (!token && session) await deps.accounts.recordUse(session.keyId);
    if (session && !SAFE_METHODS.has(request.method)) {
      // A cookie is sent by the browser whoever made the page: a state-changing request by cookie
      // must come from this site and carry the session's CSRF token, which only its pages know.
      // Without them the cookie does not authenticate it: 401, as the contract's table has no other code for it.
      const refusal = sameSiteRefusal(request, deps.publicUrl);
      if (refusal) throw new ApiError('unauthorized', refusal);
      const sent = request.headers['x-csrf-token'];
      if (!csrfMatches(typeof sent === 'string' ? sent : undefined, session.csrfToken)) {
        throw new ApiError('unauthorized', 'A request authenticated by the console session cookie must send the session\'s CSRF token in "X-CSRF-Token".');
      }
    }
    if (!auth) {
      // Past the limit, an address's failures get 429; its good keys still work (one client with a
      // wrong key does not lock out the others behind the same address; keys are not guessable).
      const failuresKey = `authfail:${request.ip}`;
      const failures = await deps.rateLimiter.peek(failuresKey, deps.authFailuresPerMinute, WINDOW_SECONDS);
      if (!failures.allowed) throw rateLimited('auth_failures', failures);
      await deps.rateLimiter.consume(failuresKey, deps.authFailuresPerMinute, WINDOW_SECONDS);
      throw new ApiError(
        'unauthorized',
        token
          ? 'The API key is unknown or revoked.'
          : sessionToken
            ? 'The console session has ended (signed out, expired, or its key revoked); sign in again.'
            : 'Send your API key as "Authorization: Bearer <key>".',
      );
    }
    if (countRequest) {
      const decision = await consumeRequestBudget(deps.rateLimiter, reply, auth);
      if (!decision.allowed) throw rateLimited('requests', decision);
    }
    request.auth = auth;
    const { sessions, accounts } = deps;
    if (token) recheckers.set(request, async () => (await accounts.authenticate(token)) !== null);
    else if (sessionToken && sessions) recheckers.set(request, async () => (await sessions.find(sessionToken)) !== null);
  };
}

/** The caller of an authenticated route. */
export function callerOf(request: FastifyRequest): AuthenticatedKey {
  if (!request.auth) throw new ApiError('unauthorized', 'Authentication required.');
  return request.auth;
}
