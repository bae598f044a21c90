import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccountStore } from '../../accounts/account-store.js';
import { csrfMatches, type ConsoleSession, type SessionStore } from '../../accounts/session-store.js';
import { rateLimited } from '../../http/auth.js';
import { clearSessionCookie, sameSiteRefusal, sessionTokenOf, setSessionCookie } from '../../http/session-cookie.js';
import type { RateLimiter } from '../../rate-limit/port.js';
import { DICTIONARIES, LANGS, localePath, type Lang } from '../i18n.js';
import { usePageScope } from '../page-scope.js';
import { consoleBundle } from './bundle.js';
import { CONSOLE_PAGES, consoleNotFoundPage, consolePage, signInPage, type ConsolePageName } from './console-pages.js';

export interface ConsoleDeps {
  publicUrl: string;
  accounts: AccountStore;
  sessions: SessionStore;
  rateLimiter: RateLimiter;
  authFailuresPerMinute: number;
}

const HTML = 'text/html; charset=utf-8';
const CONSOLE_CSS = readFileSync(fileURLToPath(new URL('./console.css', import.meta.url)));

/**
 * The web console: `/console…` in English, `/bn/console…` in Bengali. Signing in exchanges an
 * API key for a session cookie (the key is not kept by the browser); the pages' data and every
 * change go through the public API, which accepts that cookie (see `createAuthenticator`).
 */
export function registerConsoleRoutes(app: FastifyInstance, deps: ConsoleDeps): void {
  void app.register(async (scope) => {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16 * 1024 }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(String(body))));
    });
    // Pages of a signed-in person: never stored by a shared cache, never shown from history after sign-out.
    usePageScope(scope, {
      cacheControl: 'no-store',
      errorPage: (error, lang) => ({ status: error.status, html: signInPage(lang, { error: error.message }) }),
    });

    const session = async (request: FastifyRequest): Promise<ConsoleSession | null> => {
      const token = sessionTokenOf(request);
      return token ? deps.sessions.find(token) : null;
    };
    const toSignIn = (reply: FastifyReply, lang: Lang) => reply.code(303).header('location', localePath(lang, '/console/sign-in')).send();

    for (const lang of LANGS) {
      const t = DICTIONARIES[lang];
      const base = localePath(lang, '/console');
      scope.get(`${base}/sign-in`, async (request, reply) => {
        if (await session(request)) return reply.code(303).header('location', base).send();
        return reply.type(HTML).send(signInPage(lang));
      });
      scope.post<{ Body: { key?: string } }>(`${base}/sign-in`, async (request, reply) => {
        // No cookie is involved yet, but a sign-in another site makes would sign the person in as
        // someone else (login CSRF): only this site's form may post here.
        const refusal = sameSiteRefusal(request, deps.publicUrl);
        if (refusal) return reply.code(403).type(HTML).send(signInPage(lang, { error: refusal }));
        const key = typeof request.body?.key === 'string' ? request.body.key.trim() : '';
        const auth = key ? await deps.accounts.authenticate(key) : null;
        if (!auth) {
          // Failed sign-ins count against the address's failed authentications, as the API's do.
          const failuresKey = `authfail:${request.ip}`;
          const failures = await deps.rateLimiter.peek(failuresKey, deps.authFailuresPerMinute, 60);
          if (!failures.allowed) throw rateLimited('auth_failures', failures);
          await deps.rateLimiter.consume(failuresKey, deps.authFailuresPerMinute, 60);
          return reply.code(401).type(HTML).send(signInPage(lang, { error: t.console_sign_in_failed }));
        }
        // A session this browser already had (another account's, or one planted in it) ends:
        // the new cookie replaces it, and nothing should be left able to use it.
        const previous = sessionTokenOf(request);
        if (previous) await deps.sessions.end(previous);
        const { token } = await deps.sessions.create(auth);
        setSessionCookie(reply, request, token, deps.sessions.ttlSeconds, deps.publicUrl);
        request.log.info({ account_action: 'console_signed_in', account_id: auth.account.id, key_id: auth.keyId }, 'account action');
        return reply.code(303).header('location', base).send();
      });
      scope.post<{ Body: { csrf_token?: string } }>(`${base}/sign-out`, async (request, reply) => {
        const token = sessionTokenOf(request);
        const current = token ? await deps.sessions.find(token) : null;
        if (token && current) {
          const refusal = sameSiteRefusal(request, deps.publicUrl);
          const sent = request.body?.csrf_token;
          if (refusal || !csrfMatches(typeof sent === 'string' ? sent : undefined, current.csrfToken)) {
            return reply.code(403).type(HTML).send(signInPage(lang, { error: refusal ?? t.console_csrf_refused }));
          }
          await deps.sessions.end(token);
        }
        clearSessionCookie(reply, request, deps.publicUrl);
        return reply.code(303).header('location', `${base}/sign-in`).send();
      });
      const page = (url: string, name: ConsolePageName) =>
        scope.get<{ Params: { id?: string } }>(url, async (request, reply) => {
          const current = await session(request);
          if (!current) return toSignIn(reply, lang);
          return reply.type(HTML).send(consolePage(lang, name, current, request.params.id ?? null));
        });
      for (const entry of CONSOLE_PAGES) page(`${base}${entry.path}`, entry.name);
      page(`${base}/tasks/:id`, 'task');
      // Any other address or method under the console is a page too, with the same security
      // headers: not the API's JSON envelope, which the app's not-found handler would send.
      const notFound = async (_request: FastifyRequest, reply: FastifyReply) => reply.code(404).type(HTML).send(consoleNotFoundPage(lang));
      scope.route({ method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'], url: `${base}/*`, handler: notFound });
      scope.route({ method: ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'], url: base, handler: notFound });
    }
    scope.get('/assets/console.css', async (_request, reply) =>
      reply.type('text/css; charset=utf-8').header('cache-control', 'no-cache').send(CONSOLE_CSS));
    scope.get('/assets/console.js', async (_request, reply) => {
      const bundle = await consoleBundle();
      return reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(bundle);
    });
  });
}

